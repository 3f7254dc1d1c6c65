// Model on the strict emulated device (kernels/strict): its parameters,
// gradients and every activation and scratch buffer come from the backend, so
// a Model built on the strict device runs Initialize, a training Forward and
// Backward, the kernel regularizers and the moving-statistics update with no
// host access to device memory (a host read or write would be a SIGSEGV) and
// no host pointer given to an op (strict CheckErrors() would name it). The
// same model on the CPU backend is the spec: outputs, parameters and
// gradients copied back with the memory API are bitwise equal.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "worker/job_config.h"
#include "worker/model/layer_registry.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

using model::Model;

// The tutorial's reference MLP: Flatten, Dense(512, relu), Dropout(0.2), Dense(10, softmax).
constexpr char kReferenceMlp[] =
    "input_shape: [28, 28] layers { flatten {} } "
    "layers { dense { units: 512 activation: RELU } } layers { dropout { rate: 0.2 } } "
    "layers { dense { units: 10 activation: SOFTMAX kernel_regularizer { l2: 0.01 } } }";

// Conv2D (L2-regularized) -> BatchNormalization -> MaxPool -> a Conv2D branch
// added back to the pool, Concatenate of both, a synchronized
// BatchNormalization (no hook: the rank's batch is the global one) ->
// Flatten -> Dense(3, softmax, L1).
constexpr char kSmallCnn[] =
    "input_shape: [6, 6, 2] "
    "layers { name: 'c1' conv2d { filters: 4 kernel_size: [3] padding: SAME activation: RELU "
    "kernel_regularizer { l2: 0.02 } } } "
    "layers { name: 'bn' batch_normalization { momentum: 0.9 } } "
    "layers { name: 'pool' max_pooling2d { pool_size: [2] } } "
    "layers { name: 'c2' conv2d { filters: 4 kernel_size: [3] padding: SAME activation: GELU } } "
    "layers { name: 'sum' inputs: ['pool', 'c2'] add {} } "
    "layers { name: 'cat' inputs: ['sum', 'pool'] concatenate {} } "
    "layers { name: 'bn2' batch_normalization { synchronized: true } } "
    "layers { flatten {} } "
    "layers { dense { units: 3 activation: SOFTMAX kernel_regularizer { l1: 0.01 } } }";

config::ModelConfig ParseModel(const std::string& text) {
  auto job = ParseJobConfig("model { " + text + " }", "test");
  EXPECT_TRUE(job.ok()) << job.status();
  return job->model();
}

// Deterministic, varied values.
std::vector<float> Values(int64_t n, float phase) {
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    values[static_cast<size_t>(i)] = std::sin(0.37f * static_cast<float>(i) + phase);
  }
  return values;
}

// `host` copied into new device memory of `backend`.
kernels::DeviceBuffer ToDevice(kernels::KernelBackend& backend, const std::vector<float>& host,
                               const char* what) {
  const int64_t bytes = static_cast<int64_t>(host.size() * sizeof(float));
  auto buffer = backend.AllocateDevice(bytes, what);
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  backend.CopyToDevice(buffer->data(), host.data(), bytes);
  return std::move(*buffer);
}

std::vector<float> ToHost(kernels::KernelBackend& backend, const float* device, int64_t n) {
  std::vector<float> host(static_cast<size_t>(n));
  backend.CopyToHost(host.data(), device, n * static_cast<int64_t>(sizeof(float)));
  EXPECT_TRUE(backend.Synchronize().ok());
  return host;
}

// What one training step of the model computes, copied to the host.
struct StepResult {
  std::vector<float> output, params_after_backward, grads, params, inference_output;
  double penalty = 0;
};

// Create, Initialize, a training Forward and Backward on one batch, the
// regularizers, the moving-statistics update, then an inference Forward.
StepResult Step(const char* text, kernels::KernelBackend& backend, int64_t batch,
                bool fused_softmax) {
  StepResult result;
  auto created = Model::Create(ParseModel(text), batch, backend);
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return result;
  Model& model = **created;
  model.Initialize(backend, 11);
  const kernels::DeviceBuffer x =
      ToDevice(backend, Values(batch * model.input_size(), 0.5f), "test input");
  const kernels::DeviceBuffer dy =
      ToDevice(backend, Values(batch * model.output_size(), 1.5f), "test output gradient");
  const model::ForwardMode training{true, 5, 3, 64};
  const float* y = model.Forward(backend, x.floats(), batch, training, fused_softmax);
  result.output = ToHost(backend, y, batch * model.output_size());
  model.Backward(backend, x.floats(), dy.floats(), batch, fused_softmax);
  result.penalty = model.AddRegularizationGradients();
  model::ParameterStore& parameters = model.parameters();
  result.params_after_backward.resize(static_cast<size_t>(parameters.size()));
  EXPECT_TRUE(parameters.CopyParamsToHost(result.params_after_backward.data()).ok());
  model.StoreBatchStatistics(0.5f);
  model.UpdateMovingStatistics();
  result.grads.resize(static_cast<size_t>(parameters.size()));
  result.params.resize(static_cast<size_t>(parameters.size()));
  EXPECT_TRUE(parameters.CopyGradsToHost(result.grads.data()).ok());
  EXPECT_TRUE(parameters.CopyParamsToHost(result.params.data()).ok());
  const float* inference = model.Forward(backend, x.floats(), batch, {}, false);
  result.inference_output = ToHost(backend, inference, batch * model.output_size());
  EXPECT_TRUE(backend.CheckErrors().ok());
  EXPECT_TRUE(model.TakeHostCopyStatus().ok());
  return result;
}

void ExpectBitwiseEqual(const std::vector<float>& cpu, const std::vector<float>& strict,
                        const char* what) {
  ASSERT_EQ(cpu.size(), strict.size()) << what;
  ASSERT_FALSE(cpu.empty()) << what;
  EXPECT_EQ(std::memcmp(cpu.data(), strict.data(), cpu.size() * sizeof(float)), 0) << what;
}

void ExpectSameStep(const char* text, int64_t batch, bool fused_softmax) {
  auto cpu = kernels::CreateCpuBackend();
  auto strict = kernels::CreateStrictDeviceBackend();
  ASSERT_FALSE(strict->host_reads_device_memory());
  const StepResult a = Step(text, *cpu, batch, fused_softmax);
  const StepResult b = Step(text, *strict, batch, fused_softmax);
  ExpectBitwiseEqual(a.output, b.output, "training output");
  ExpectBitwiseEqual(a.params_after_backward, b.params_after_backward, "parameters");
  ExpectBitwiseEqual(a.grads, b.grads, "gradients and batch statistics");
  ExpectBitwiseEqual(a.params, b.params, "parameters with moving statistics");
  ExpectBitwiseEqual(a.inference_output, b.inference_output, "inference output");
  EXPECT_GT(a.penalty, 0.0);
  EXPECT_EQ(a.penalty, b.penalty);
}

TEST(StrictModelTest, ReferenceMlpStepIsBitwiseTheCpus) {
  ExpectSameStep(kReferenceMlp, 4, /*fused_softmax=*/true);
}

TEST(StrictModelTest, SmallCnnStepIsBitwiseTheCpus) {
  ExpectSameStep(kSmallCnn, 3, /*fused_softmax=*/false);
}

// The moving statistics really moved (the CNN's BatchNormalization layers):
// not the initial 0 / 1 after the update.
TEST(StrictModelTest, MovingStatisticsAreUpdatedOnTheDevice) {
  auto strict = kernels::CreateStrictDeviceBackend();
  auto created = Model::Create(ParseModel(kSmallCnn), 3, *strict);
  ASSERT_TRUE(created.ok()) << created.status();
  const StepResult result = Step(kSmallCnn, *strict, 3, false);
  const model::ParameterStore& parameters = (*created)->parameters();
  int found = 0;
  for (int v = 0; v < parameters.num_variables(); ++v) {
    const std::string& name = parameters.variable(v).name;
    if (name != "bn/moving_variance" && name != "bn2/moving_variance") continue;
    const float value = result.params[static_cast<size_t>(parameters.variable(v).offset)];
    EXPECT_NE(value, 1.0f) << name;
    EXPECT_TRUE(std::isfinite(value)) << name;
    ++found;
  }
  EXPECT_EQ(found, 2);
}

// A host pointer handed to Forward on the strict device is what would crash
// on CUDA: the op is refused and CheckErrors names it.
TEST(StrictModelTest, HostInputIsRefusedByTheStrictDevice) {
  auto strict = kernels::CreateStrictDeviceBackend();
  auto created = Model::Create(ParseModel(kReferenceMlp), 2, *strict);
  ASSERT_TRUE(created.ok()) << created.status();
  (*created)->Initialize(*strict, 1);
  const std::vector<float> host_x = Values(2 * 784, 0.0f);
  (*created)->Forward(*strict, host_x.data(), 2, {}, false);
  const Status status = strict->CheckErrors();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("DenseForward"), std::string::npos) << status;
}

// y = x (no weights): enough to be a registered custom layer.
class IdentityLayer : public model::CustomLayer {
 public:
  StatusOr<int64_t> OutputSize(int64_t in) const override { return in; }
  std::vector<std::pair<std::string, Shape>> Weights(int64_t) const override { return {}; }
  void Forward(const float* x, int64_t batch, int64_t in, const std::vector<const float*>&,
               float* y) const override {
    std::memcpy(y, x, static_cast<size_t>(batch * in) * sizeof(float));
  }
  void Backward(const float*, const float*, const float* dy, int64_t batch, int64_t in,
                const std::vector<const float*>&, float* dx,
                const std::vector<float*>&) const override {
    if (dx != nullptr) std::memcpy(dx, dy, static_cast<size_t>(batch * in) * sizeof(float));
  }
  std::string ConfigJson() const override { return "{}"; }
};

TEST(StrictModelTest, CustomLayerIsRefusedOnADeviceTheHostCannotRead) {
  if (!model::IsLayerRegistered("strict_test>Identity")) {
    ASSERT_TRUE(model::RegisterLayer("strict_test>Identity", [](const std::string&) {
                  return StatusOr<std::unique_ptr<model::CustomLayer>>(
                      std::make_unique<IdentityLayer>());
                }).ok());
  }
  const char* text =
      "input_shape: [4] layers { name: 'mine' custom { registered_name: 'strict_test>Identity' "
      "config_json: '{}' } } layers { dense { units: 2 } }";
  auto strict = kernels::CreateStrictDeviceBackend();
  auto refused = Model::Create(ParseModel(text), 2, *strict);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("custom layer 'mine'"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("use --device cpu"), std::string::npos);
  auto cpu = kernels::CreateCpuBackend();
  EXPECT_TRUE(Model::Create(ParseModel(text), 2, *cpu).ok());
}

}  // namespace
}  // namespace shardtrain
