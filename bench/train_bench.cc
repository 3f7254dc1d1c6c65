// train_bench: examples/s of shardtrain's CPU training step for the reference
// MLP (784-512-10, dropout 0.2, Adam) at a given batch, and the GEMM-only floor:
// the same step's five sgemm calls timed alone with the same shapes (plain
// OpenBLAS, the faster of 1 thread and all cores).
//
// Prints one line: "shardtrain batch=B examples_per_sec=X step_ms=Y gemm_floor_ms=Z".
// Data is synthetic (random pixels and labels); the step's cost does not
// depend on the values. Usage: train_bench --batch 32 [--seconds 3]
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <thread>
#include <algorithm>
#include <vector>

#include "common/flags.h"
#include "common/philox.h"
#include "kernels/backend.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr char kReferenceModel[] = R"pb(
  name: "bench"
  model {
    input_shape: [784]
    layers { dense { units: 512 activation: RELU } }
    layers { dropout { rate: 0.2 } }
    layers { dense { units: 10 } }
  }
  optimizer { adam {} }
  loss { sparse_categorical_crossentropy { from_logits: true } }
  data { dir: "unused" num_classes: 10 }
  training { batch_size: 32 epochs: 1 seed: 1 }
)pb";

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

data::Dataset SyntheticDataset(int64_t n) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = 784;
  d.features.resize(static_cast<size_t>(n * 784));
  d.labels.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < d.features.size(); ++i) {
    d.features[i] = static_cast<float>(PhiloxBits(7, 0, 1, i) & 0xFF) * (1.0f / 255.0f);
  }
  for (size_t i = 0; i < d.labels.size(); ++i) d.labels[i] = PhiloxBits(7, 0, 2, i) % 10;
  return d;
}

// Seconds per step of the step's five sgemm calls alone (forward 2, backward 3),
// same shapes, as plain OpenBLAS calls with `threads` OpenBLAS threads.
double GemmFloorSeconds(int64_t batch, double seconds, int threads) {
  openblas_set_num_threads(threads);
  const int b = static_cast<int>(batch);
  std::vector<float> x(batch * 784, 0.5f), w1(784 * 512, 0.01f), h(batch * 512), w2(512 * 10, 0.01f),
      y(batch * 10), dy(batch * 10, 0.1f), dw2(512 * 10), dh(batch * 512), dw1(784 * 512);
  auto step = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, 512, 784, 1.f, x.data(), 784,
                w1.data(), 512, 0.f, h.data(), 512);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, 10, 512, 1.f, h.data(), 512,
                w2.data(), 10, 0.f, y.data(), 10);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 512, 10, b, 1.f, h.data(), 512,
                dy.data(), 10, 0.f, dw2.data(), 10);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, 512, 10, 1.f, dy.data(), 10,
                w2.data(), 10, 0.f, dh.data(), 512);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 784, 512, b, 1.f, x.data(), 784,
                dh.data(), 512, 0.f, dw1.data(), 512);
  };
  for (int i = 0; i < 20; ++i) step();
  int64_t steps = 0;
  auto start = Clock::now();
  while (Since(start) < seconds) {
    step();
    ++steps;
  }
  double result = Since(start) / static_cast<double>(steps);
  openblas_set_num_threads(1);  // what kernels/cpu runs OpenBLAS with
  return result;
}

Status Run(const std::vector<std::string>& args) {
  std::optional<int64_t> batch_flag;
  std::optional<float> seconds_flag;
  FlagSet flags("train_bench", "train_bench --batch N [--seconds S]",
                "Times the reference MLP's training step and its GEMM floor.");
  flags.Int("batch", &batch_flag, "batch size (default 32)");
  flags.Float("seconds", &seconds_flag, "seconds to time each part (default 3)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  const int64_t batch = batch_flag.value_or(32);
  const double seconds = seconds_flag.value_or(3.0f);
  ASSIGN_OR_RETURN(config::JobConfig config, ParseJobConfig(kReferenceModel, "train_bench"));
  config.mutable_training()->set_batch_size(batch);
  RETURN_IF_ERROR(ValidateJobConfig(&config));
  auto backend = kernels::CreateCpuBackend();
  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, backend.get()));

  const int64_t n = 60000;
  data::Dataset train = SyntheticDataset(n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  int64_t position = 0;
  StepResult result;
  std::vector<float> x(static_cast<size_t>(batch * train.feature_size));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  // Gathers the next batch (as Fit's in-memory batches do), then steps on it.
  auto step = [&] {
    if (position + batch > n) position = 0;
    GatherRows(train, order.data() + position, batch, x.data(), labels.data(), nullptr);
    position += batch;
    return trainer->Step(x.data(), loss::Targets::ClassIds(labels.data()), {batch, 0, batch},
                         &result);
  };
  for (int i = 0; i < 20; ++i) RETURN_IF_ERROR(step());
  int64_t steps = 0;
  auto start = Clock::now();
  while (Since(start) < seconds) {
    RETURN_IF_ERROR(step());
    ++steps;
  }
  double step_seconds = Since(start) / static_cast<double>(steps);
  // The floor is the faster of OpenBLAS single-threaded and on every core.
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  double floor_seconds = GemmFloorSeconds(batch, seconds / 2, 1);
  if (cores > 1) floor_seconds = std::min(floor_seconds, GemmFloorSeconds(batch, seconds / 2, cores));
  std::printf("shardtrain batch=%lld examples_per_sec=%.0f step_ms=%.4f gemm_floor_ms=%.4f\n",
              static_cast<long long>(batch), static_cast<double>(batch) / step_seconds,
              step_seconds * 1e3, floor_seconds * 1e3);
  return OkStatus();
}

}  // namespace
}  // namespace shardtrain

int main(int argc, char** argv) {
  shardtrain::Status status = shardtrain::Run(std::vector<std::string>(argv + 1, argv + argc));
  if (!status.ok()) {
    std::cerr << "train_bench: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
