// Synchronized BatchNormalization in the model (issue 23): with one rank it
// computes what the unsynchronized layer does; with two ranks (two models on
// two threads, their cross-rank sum hooks meeting in an in-process sum) the
// outputs and summed gradients are those of one model on the whole batch,
// while unsynchronized layers give different ones; a rank with no rows joins
// the sums through ParticipateWithoutRows; a failing hook's first error is
// kept while the later sums are still made;
// Keras JSON with `synchronized: true` imports, builds and writes it back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "worker/job_config.h"
#include "worker/model/keras_json.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

using model::ForwardMode;
using model::Model;

// 4x4x2 images -> Conv2D(3, 3x3 same) -> BatchNormalization -> Flatten ->
// Dense(6) -> BatchNormalization -> Dense(2): a gradient flows below both
// normalizations, so both sum moments and gradient sums over ranks.
std::string ModelText(bool synchronized) {
  const std::string bn = std::string("layers { batch_normalization { synchronized: ") +
                         (synchronized ? "true" : "false") + " } } ";
  return "input_shape: [4, 4, 2] layers { conv2d { filters: 3 kernel_size: [3] padding: SAME } } " +
         bn + "layers { flatten {} } layers { dense { units: 6 activation: RELU } } " + bn +
         "layers { dense { units: 2 } }";
}

std::unique_ptr<Model> CreateModel(bool synchronized, kernels::KernelBackend& backend) {
  auto job = ParseJobConfig("model { " + ModelText(synchronized) + " }", "test");
  EXPECT_TRUE(job.ok()) << job.status();
  auto model = Model::Create(job->model(), 8, kernels::SharedCpuBackend());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  (*model)->Initialize(backend, 7);
  // Non-trivial gamma and beta, so the gradient formula's every term counts.
  model::ParameterStore& params = (*model)->parameters();
  for (const Model::Layer& layer : (*model)->layers()) {
    if (layer.kind != Model::LayerKind::kBatchNormalization) continue;
    for (int64_t c = 0; c < layer.channels; ++c) {
      params.param(layer.gamma_variable)[c] = 0.5f + 0.25f * static_cast<float>(c);
      params.param(layer.beta_variable)[c] = 0.1f * static_cast<float>(c) - 0.2f;
    }
  }
  return std::move(*model);
}

// Deterministic values in [-1, 1) plus `offset` (a different mean per input).
std::vector<float> Values(int64_t n, uint64_t stream, float offset) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    v[i] = static_cast<float>(PhiloxBits(5, 0, stream, i) % 2000) / 1000.0f - 1.0f + offset;
  }
  return v;
}

constexpr int64_t kRows = 6;
constexpr int64_t kInput = 4 * 4 * 2;
const std::vector<float> kX = Values(kRows * kInput, 1, 0.0f);
// d(loss)/d(output) of each row; the ranks take their rows' slices.
const std::vector<float> kDy = Values(kRows * 2, 2, 0.3f);

struct Pass {
  std::vector<float> output;  // (rows, 2)
  std::vector<float> grads;   // every variable's gradient (moving statistics' slots excluded)
};

// One training forward and backward of `rows` rows from `first`; rows 0: ParticipateWithoutRows.
Pass TrainingPass(Model& model, kernels::KernelBackend& backend, int64_t first, int64_t rows) {
  Pass pass;
  model::ParameterStore& params = model.parameters();
  std::fill(params.grads(), params.grads() + params.size(), 0.0f);
  if (rows == 0) {
    model.ParticipateWithoutRows();
  } else {
    const float* y = model.Forward(backend, kX.data() + first * kInput, rows,
                                   ForwardMode{true, 0, 0, static_cast<uint64_t>(first)}, false);
    pass.output.assign(y, y + rows * 2);
    std::vector<float> dy(kDy.begin() + first * 2, kDy.begin() + (first + rows) * 2);
    model.Backward(backend, kX.data() + first * kInput, dy.data(), rows, false);
  }
  for (int v = 0; v < params.num_variables(); ++v) {
    if (!params.variable(v).trainable) continue;
    const float* g = params.grad(v);
    pass.grads.insert(pass.grads.end(), g, g + params.variable(v).shape.num_elements());
  }
  return pass;
}

// Max |a - b| over the largest |b|.
// The `n` floats of a CPU model's device buffer (host memory on the CPU backend).
std::vector<float> Floats(const kernels::DeviceBuffer& buffer, int64_t n) {
  return std::vector<float>(buffer.floats(), buffer.floats() + n);
}

double RelativeDifference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

TEST(BatchNormSyncTest, OneRankComputesWhatTheUnsynchronizedLayerDoes) {
  auto backend = kernels::CreateCpuBackend();
  auto synced = CreateModel(true, *backend);
  auto plain = CreateModel(false, *backend);
  ASSERT_NE(synced, nullptr);
  ASSERT_NE(plain, nullptr);
  const Pass a = TrainingPass(*synced, *backend, 0, kRows);
  const Pass b = TrainingPass(*plain, *backend, 0, kRows);
  EXPECT_LE(RelativeDifference(a.output, b.output), 1e-7);
  EXPECT_LE(RelativeDifference(a.grads, b.grads), 1e-7);
  for (size_t i : {size_t{1}, size_t{4}}) {
    const Model::Layer& s = synced->layers()[i];
    const Model::Layer& p = plain->layers()[i];
    EXPECT_LE(
        RelativeDifference(Floats(s.batch_mean, s.channels), Floats(p.batch_mean, p.channels)),
        1e-7);
    EXPECT_LE(RelativeDifference(Floats(s.batch_variance, s.channels),
                                 Floats(p.batch_variance, p.channels)),
              1e-7);
    EXPECT_EQ(s.global_rows, p.global_rows);
  }
  EXPECT_TRUE(synced->TakeCrossRankStatus().ok());
}

// Two ranks in one process: each Sum call waits for the other rank's and
// both get the elementwise sum (sizes must agree, else `mismatch`).
class TwoRankSum {
 public:
  Status Sum(int rank, double* values, int64_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t round = round_;
    values_[rank] = values;
    sizes_[rank] = n;
    ++calls_[rank];
    if (++arrived_ < 2) {
      done_.wait(lock, [&] { return round_ != round; });
      return OkStatus();
    }
    mismatch_ |= sizes_[0] != sizes_[1];
    for (int64_t i = 0; i < std::min(sizes_[0], sizes_[1]); ++i) {
      values_[0][i] = values_[1][i] = values_[0][i] + values_[1][i];
    }
    arrived_ = 0;
    ++round_;
    done_.notify_all();
    return OkStatus();
  }
  bool mismatch() const { return mismatch_; }
  int calls(int rank) const { return calls_[rank]; }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  uint64_t round_ = 0;
  int arrived_ = 0;
  double* values_[2] = {nullptr, nullptr};
  int64_t sizes_[2] = {0, 0};
  int calls_[2] = {0, 0};
  bool mismatch_ = false;
};

// Rank r runs rows [first[r], first[r] + rows[r]) on its own model and thread.
std::vector<Pass> RunTwoRanks(bool synchronized, const int64_t first[2], const int64_t rows[2],
                              TwoRankSum* sum) {
  std::vector<Pass> passes(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      auto backend = kernels::CreateCpuBackend();
      auto model = CreateModel(synchronized, *backend);
      if (model == nullptr) return;
      model->SetCrossRankSum([sum, r](double* v, int64_t n) { return sum->Sum(r, v, n); });
      passes[r] = TrainingPass(*model, *backend, first[r], rows[r]);
      EXPECT_TRUE(model->TakeCrossRankStatus().ok());
    });
  }
  for (std::thread& t : threads) t.join();
  return passes;
}

std::vector<float> Concatenated(const std::vector<Pass>& p) {
  std::vector<float> out = p[0].output;
  out.insert(out.end(), p[1].output.begin(), p[1].output.end());
  return out;
}

std::vector<float> SummedGrads(const std::vector<Pass>& p) {
  std::vector<float> g = p[0].grads;
  for (size_t i = 0; i < g.size(); ++i) g[i] += p[1].grads[i];
  return g;
}

TEST(BatchNormSyncTest, TwoRanksComputeWhatOneModelDoesOnTheWholeBatch) {
  auto backend = kernels::CreateCpuBackend();
  auto whole = CreateModel(true, *backend);
  ASSERT_NE(whole, nullptr);
  const Pass one = TrainingPass(*whole, *backend, 0, kRows);
  const int64_t first[2] = {0, 2}, rows[2] = {2, kRows - 2};  // uneven shares
  TwoRankSum sum;
  const std::vector<Pass> synced = RunTwoRanks(true, first, rows, &sum);
  EXPECT_FALSE(sum.mismatch());
  // Two layers: moments in each forward, gradient sums in each backward.
  EXPECT_EQ(sum.calls(0), 4);
  EXPECT_LE(RelativeDifference(Concatenated(synced), one.output), 1e-5);
  EXPECT_LE(RelativeDifference(SummedGrads(synced), one.grads), 1e-5);

  // Without synchronization each rank normalizes its own rows: visibly different.
  TwoRankSum unused;
  const std::vector<Pass> local = RunTwoRanks(false, first, rows, &unused);
  EXPECT_EQ(unused.calls(0), 0);
  EXPECT_GT(RelativeDifference(Concatenated(local), one.output), 1e-2);
  EXPECT_GT(RelativeDifference(SummedGrads(local), one.grads), 1e-2);
}

TEST(BatchNormSyncTest, ARankWithoutRowsJoinsTheSumsWithZeros) {
  auto backend = kernels::CreateCpuBackend();
  auto whole = CreateModel(true, *backend);
  ASSERT_NE(whole, nullptr);
  const Pass one = TrainingPass(*whole, *backend, 0, kRows);
  const int64_t first[2] = {0, kRows}, rows[2] = {kRows, 0};
  TwoRankSum sum;
  const std::vector<Pass> passes = RunTwoRanks(true, first, rows, &sum);
  EXPECT_FALSE(sum.mismatch());
  EXPECT_EQ(sum.calls(0), 4);
  EXPECT_EQ(sum.calls(1), 4);
  EXPECT_LE(RelativeDifference(passes[0].output, one.output), 1e-6);
  EXPECT_LE(RelativeDifference(passes[0].grads, one.grads), 1e-6);
  for (float g : passes[1].grads) EXPECT_EQ(g, 0.0f);
}

TEST(BatchNormSyncTest, TheHooksFirstErrorIsKeptUntilTaken) {
  auto backend = kernels::CreateCpuBackend();
  auto model = CreateModel(true, *backend);
  ASSERT_NE(model, nullptr);
  int calls = 0;
  model->SetCrossRankSum([&calls](double*, int64_t) {
    return ++calls == 1 ? UnavailableError("peer rank 1 is gone") : DataLossError("later");
  });
  TrainingPass(*model, *backend, 0, kRows);
  // Every sum of the pass is still made (as on ranks whose sums succeed), so
  // the ranks' collectives stay in step; the first error is the one kept.
  EXPECT_EQ(calls, 4);
  const Status status = model->TakeCrossRankStatus();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("peer rank 1 is gone"), std::string::npos) << status;
  EXPECT_TRUE(model->TakeCrossRankStatus().ok());
}

TEST(BatchNormSyncTest, InferenceAndFrozenLayersSumNothing) {
  auto backend = kernels::CreateCpuBackend();
  auto model = CreateModel(true, *backend);
  ASSERT_NE(model, nullptr);
  int calls = 0;
  model->SetCrossRankSum([&calls](double*, int64_t) {
    ++calls;
    return OkStatus();
  });
  model->Forward(*backend, kX.data(), kRows, ForwardMode{}, false);
  EXPECT_EQ(calls, 0);
  auto job = ParseJobConfig(
      "model { input_shape: [2] layers { dense { units: 2 } } "
      "layers { batch_normalization { synchronized: true } trainable: false } "
      "layers { dense { units: 1 } } }",
      "test");
  ASSERT_TRUE(job.ok()) << job.status();
  auto frozen = Model::Create(job->model(), 4, kernels::SharedCpuBackend());
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  (*frozen)->Initialize(*backend, 1);
  (*frozen)->SetCrossRankSum([&calls](double*, int64_t) {
    ++calls;
    return OkStatus();
  });
  std::vector<float> x = {1, 2, 3, 4}, dy = {0.5f, -0.5f};
  (*frozen)->Forward(*backend, x.data(), 2, ForwardMode{true, 0, 0, 0}, false);
  (*frozen)->Backward(*backend, x.data(), dy.data(), 2, false);
  (*frozen)->ParticipateWithoutRows();
  EXPECT_EQ(calls, 0);
}

TEST(BatchNormSyncTest, KerasJsonSynchronizedImportsBuildsAndRoundTrips) {
  const std::string json =
      R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
      {"module": "keras.layers", "class_name": "InputLayer",
       "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "input_layer"},
       "registered_name": null},
      {"module": "keras.layers", "class_name": "BatchNormalization",
       "config": {"name": "bn", "axis": -1, "momentum": 0.9, "epsilon": 0.001, "center": true,
                  "scale": true, "synchronized": true}, "registered_name": null},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2},
       "registered_name": null}]}})";
  auto config = model::ModelConfigFromKerasJson(json, "sync.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->layers(0).batch_normalization().synchronized());
  auto model = Model::Create(*config, 4, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->layers()[0].synchronized);
  config::JobConfig job;
  *job.mutable_model() = *config;
  for (auto flavor : {model::KerasJsonFlavor::kKeras3, model::KerasJsonFlavor::kKeras2}) {
    const std::string written = model::KerasModelJson(job, **model, flavor, false);
    EXPECT_NE(written.find(R"("synchronized":true)"), std::string::npos) << written;
    auto again = model::ModelConfigFromKerasJson(written, "written.json");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(again->layers(0).batch_normalization().synchronized());
  }
}

}  // namespace
}  // namespace shardtrain
