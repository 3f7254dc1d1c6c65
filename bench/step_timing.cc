// The shared step-timing code of the CPU step benchmarks (bench/step_timing.h).
#include "bench/step_timing.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <thread>

#include "common/philox.h"
#include "kernels/backend.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Mean seconds per call of `call` after 5 warm-up calls, over at least
// `seconds` and 3 calls; the first error stops it.
template <typename Call>
StatusOr<double> SecondsPerCall(double seconds, Call call) {
  for (int i = 0; i < 5; ++i) RETURN_IF_ERROR(call());
  int64_t calls = 0;
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  while (elapsed() < seconds || calls < 3) {
    RETURN_IF_ERROR(call());
    ++calls;
  }
  return elapsed() / static_cast<double>(calls);
}

data::Dataset SyntheticDataset(int64_t n, int64_t feature_size) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = feature_size;
  d.features.resize(static_cast<size_t>(n * feature_size));
  d.labels.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < d.features.size(); ++i) {
    d.features[i] = static_cast<float>(PhiloxBits(7, 0, 1, i) & 0xFF) * (1.0f / 255.0f);
  }
  for (size_t i = 0; i < d.labels.size(); ++i) d.labels[i] = PhiloxBits(7, 0, 2, i) % 10;
  return d;
}

double GemmSecondsOnThreads(const std::vector<Gemm>& gemms, double seconds, int threads) {
  openblas_set_num_threads(threads);
  std::vector<std::vector<float>> a, b, c;
  for (const Gemm& g : gemms) {
    a.emplace_back(static_cast<size_t>(g.m * g.k), 0.5f);
    b.emplace_back(static_cast<size_t>(g.k * g.n), 0.01f);
    c.emplace_back(static_cast<size_t>(g.m * g.n));
  }
  auto pass = [&] {
    for (size_t i = 0; i < gemms.size(); ++i) {
      const Gemm& g = gemms[i];
      const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                  g.trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.f, a[i].data(),
                  g.trans_a ? m : k, b[i].data(), g.trans_b ? k : n, 0.f, c[i].data(), n);
    }
    return OkStatus();
  };
  const double result = *SecondsPerCall(seconds, pass);  // pass cannot fail
  openblas_set_num_threads(1);
  return result;
}

}  // namespace

StatusOr<double> TrainerStepSeconds(const std::string& config_text, int64_t feature_size,
                                    int64_t batch, double seconds) {
  ASSIGN_OR_RETURN(config::JobConfig config, ParseJobConfig(config_text, "benchmark model"));
  config.mutable_training()->set_batch_size(batch);
  RETURN_IF_ERROR(ValidateJobConfig(&config));
  auto backend = kernels::CreateCpuBackend();
  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, backend.get()));
  const int64_t n = 60000;
  const data::Dataset train = SyntheticDataset(n, feature_size);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  int64_t position = 0;
  StepResult result;
  std::vector<float> x(static_cast<size_t>(batch * feature_size));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  // Gathers the next batch (as Fit's in-memory batches do), then steps on it.
  auto step = [&] {
    if (position + batch > n) position = 0;
    GatherRows(train, order.data() + position, batch, x.data(), labels.data(), nullptr);
    position += batch;
    return trainer->Step(x.data(), loss::Targets::ClassIds(labels.data()), {batch, 0, batch},
                         &result);
  };
  return SecondsPerCall(seconds, step);
}

double GemmFloorSeconds(const std::vector<Gemm>& gemms, double seconds) {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  double floor_seconds = GemmSecondsOnThreads(gemms, seconds / 2, 1);
  if (cores > 1) {
    floor_seconds = std::min(floor_seconds, GemmSecondsOnThreads(gemms, seconds / 2, cores));
  }
  return floor_seconds;
}

void PrintStepLine(int64_t batch, double step_seconds, double floor_seconds) {
  std::printf("shardtrain batch=%lld examples_per_sec=%.0f step_ms=%.4f gemm_floor_ms=%.4f\n",
              static_cast<long long>(batch), static_cast<double>(batch) / step_seconds,
              step_seconds * 1e3, floor_seconds * 1e3);
}

}  // namespace shardtrain::bench
