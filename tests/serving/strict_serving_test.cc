// The serving runtime on a device backend (serving/graph_executor.h): the
// same SavedModel loaded with the CPU backend and with the strict emulated
// device (kernels/strict: device memory the host cannot touch, host pointers
// given to an op refused) answers bitwise the same. Each compute op then
// stages its inputs to device buffers and copies its output back; a host
// pointer reaching an op would fail the run naming the node. Models: a Dense
// stack (MatMul, BiasAdd, Tanh, Sigmoid, Relu, Softmax), the convolutional,
// residual model of cnn_export_test (Conv2D, FusedBatchNormV3, AddV2, MaxPool,
// AvgPool, ConcatV2, Mean, Reshape, MatMul), both exported from a Model
// (cli/saved_model_of.h), and TF Serving's half_plus_two (shared test data);
// plus concurrent runs on one strict-device model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/saved_model_of.h"
#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "serving/loaded_model.h"
#include "storage/saved_model/saved_model_writer.h"
#include "tests/serving/every_conv_op_model.h"
#include "tests/storage/temp_files_test_util.h"
#include "worker/job_config.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

using serving::LoadedModel;
using serving::Tensor;

constexpr char kDenseModel[] = R"(
model {
  input_shape: [5]
  input_name: "pixels"
  layers { name: "dense" dense { units: 8 activation: TANH } }
  layers { name: "dense_1" dense { units: 6 activation: SIGMOID } }
  layers { name: "dense_2" dense { units: 6 activation: RELU } }
  layers { name: "dense_3" dense { units: 4 activation: SOFTMAX } }
}
)";

std::vector<float> Values(int64_t n, float phase) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = std::sin(0.37f * i + phase);
  return v;
}

// `config`'s model, initialized and perturbed (positive variances), exported
// as a SavedModel under `dir`; the version directory.
std::string Export(const char* config, const test_files::TempDir& dir, const std::string& name) {
  auto job = ParseJobConfig(config, "strict_serving_test");
  EXPECT_TRUE(job.ok()) << job.status();
  if (!job.ok()) return "";
  auto created = model::Model::Create(job->model(), 2, kernels::SharedCpuBackend());
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return "";
  model::Model& model = **created;
  model.Initialize(kernels::SharedCpuBackend(), 7);
  model::ParameterStore& params = model.parameters();  // host memory: the CPU backend
  const std::vector<float> shift = Values(params.size(), 0.3f);
  for (int64_t i = 0; i < params.size(); ++i) params.params()[i] += 0.1f * shift[size_t(i)];
  for (const model::Model::Layer& layer : model.layers()) {
    if (layer.moving_variance_variable < 0) continue;
    float* variance = params.param(layer.moving_variance_variable);
    const int64_t n = params.variable(layer.moving_variance_variable).shape.num_elements();
    for (int64_t c = 0; c < n; ++c) variance[c] = 0.5f + std::fabs(variance[c]);
  }
  auto exported = cli::ExportModelOf(model, "pixels");
  EXPECT_TRUE(exported.ok()) << exported.status();
  if (!exported.ok()) return "";
  auto written = storage::saved_model::ExportSavedModel(*exported, dir.File(name), 1);
  EXPECT_TRUE(written.ok()) << written.status();
  return written.ok() ? *written : "";
}

std::unique_ptr<LoadedModel> Load(const std::string& dir, bool strict) {
  auto loaded = strict ? LoadedModel::Load(dir, kernels::CreateStrictDeviceBackend())
                       : LoadedModel::Load(dir, kernels::CreateCpuBackend());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? std::move(*loaded) : nullptr;
}

std::map<std::string, Tensor> Answer(const LoadedModel& model, const std::string& input,
                                     const Tensor& x) {
  auto outputs = model.Run("serving_default", {{input, x}});
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  return outputs.ok() ? *outputs : std::map<std::string, Tensor>{};
}

void ExpectBitwiseEqual(const std::map<std::string, Tensor>& cpu,
                        const std::map<std::string, Tensor>& strict) {
  ASSERT_FALSE(cpu.empty());
  ASSERT_EQ(cpu.size(), strict.size());
  for (const auto& [name, a] : cpu) {
    const Tensor& b = strict.at(name);
    EXPECT_EQ(a.shape, b.shape) << name;
    ASSERT_EQ(a.f.size(), b.f.size()) << name;
    ASSERT_FALSE(a.f.empty()) << name;
    EXPECT_EQ(std::memcmp(a.f.data(), b.f.data(), a.f.size() * sizeof(float)), 0) << name;
  }
}

// Loads `dir` on both backends and compares their answers to each input shape.
void ExpectSameAnswers(const std::string& dir, const std::string& input,
                       const std::vector<std::vector<int64_t>>& shapes) {
  auto cpu = Load(dir, false);
  auto strict = Load(dir, true);
  ASSERT_NE(cpu, nullptr);
  ASSERT_NE(strict, nullptr);
  for (const std::vector<int64_t>& shape : shapes) {
    SCOPED_TRACE(Tensor::Floats(shape).ShapeString());
    Tensor x = Tensor::Floats(shape);
    x.f = Values(x.num_elements(), 0.5f);
    ExpectBitwiseEqual(Answer(*cpu, input, x), Answer(*strict, input, x));
  }
}

TEST(StrictServingTest, DenseSoftmaxModelAnswersTheCpusBits) {
  test_files::TempDir dir;
  const std::string exported = Export(kDenseModel, dir, "dense");
  ASSERT_FALSE(exported.empty());
  ExpectSameAnswers(exported, "pixels", {{3, 5}, {1, 5}});
}

TEST(StrictServingTest, ConvolutionalModelAnswersTheCpusBits) {
  test_files::TempDir dir;
  const std::string exported = Export(kEveryConvOpModel, dir, "cnn");
  ASSERT_FALSE(exported.empty());
  ExpectSameAnswers(exported, "pixels", {{3, 8, 8, 1}, {2, 64}});
}

TEST(StrictServingTest, HalfPlusTwoRestoresAndAnswersOnTheDevice) {
  const std::string dir = std::string(SHARDTRAIN_SHARED_DIR) +
                          "/testdata/tf/serving_saved_model_half_plus_two_cpu/00000123";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no shared test data at " << dir;
  auto strict = Load(dir, true);
  ASSERT_NE(strict, nullptr);
  Tensor x = Tensor::Floats({3});
  x.f = {1.0f, 2.0f, 5.0f};
  const auto outputs = Answer(*strict, "x", x);
  ASSERT_EQ(outputs.count("y"), 1u);
  EXPECT_EQ(outputs.at("y").f, (std::vector<float>{2.5f, 3.0f, 4.5f}));
}

// Concurrent Run()s on one strict-device model take turns on the backend
// (not thread-safe) and each gets the single-threaded answer.
TEST(StrictServingTest, ConcurrentRunsOnTheDeviceAgree) {
  test_files::TempDir dir;
  const std::string exported = Export(kEveryConvOpModel, dir, "cnn");
  ASSERT_FALSE(exported.empty());
  auto strict = Load(exported, true);
  ASSERT_NE(strict, nullptr);
  Tensor x = Tensor::Floats({2, 8, 8, 1});
  x.f = Values(x.num_elements(), 0.5f);
  const auto expected = Answer(*strict, "pixels", x);
  std::vector<std::map<std::string, Tensor>> answers(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < answers.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 5; ++k) answers[t] = Answer(*strict, "pixels", x);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const auto& answer : answers) ExpectBitwiseEqual(expected, answer);
}

}  // namespace
}  // namespace shardtrain
