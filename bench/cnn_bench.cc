// cnn_bench: examples/s of shardtrain's CPU training step for the reference CNN
// (configs/fashion_cnn.textproto: 28x28x1 -> Conv2D 32 3x3 relu -> BatchNorm ->
// MaxPool 2 -> Conv2D 64 3x3 relu -> BatchNorm -> MaxPool 2 -> Flatten ->
// Dropout 0.5 -> Dense 10, Adam)
// at a given batch, and the GEMM floor: the step's matrix products alone, as
// im2col + sgemm would issue them, timed as plain OpenBLAS calls (the faster
// of 1 thread and all cores).
//
// The floor's eight products, for batch B (row-major, M x K times K x N):
//   conv2d    forward  (B*26*26 x 9)    x (9 x 32)      backward dW only (its
//                                                        input is the model's)
//   conv2d_1  forward  (B*11*11 x 288)  x (288 x 64)    backward dW and dcols
//   dense     forward  (B x 1600)       x (1600 x 10)   backward dW and dX
// Pooling, batch normalization, activations, im2col/col2im copies, the loss
// and Adam are not in it.
//
// Prints one line: "shardtrain batch=B examples_per_sec=X step_ms=Y gemm_floor_ms=Z".
// Data is synthetic (random pixels and labels); the step's cost does not
// depend on the values. Usage: cnn_bench --batch 64 [--seconds 3]
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/flags.h"
#include "common/philox.h"
#include "kernels/backend.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr char kReferenceCnn[] = R"pb(
  name: "cnn_bench"
  model {
    input_shape: [ 28, 28, 1 ]
    layers {
      conv2d {
        filters: 32
        kernel_size: [ 3 ]
        activation: RELU
      }
    }
    layers { batch_normalization {} }
    layers { max_pooling2d {} }
    layers {
      conv2d {
        filters: 64
        kernel_size: [ 3 ]
        activation: RELU
      }
    }
    layers { batch_normalization {} }
    layers { max_pooling2d {} }
    layers { flatten {} }
    layers { dropout { rate: 0.5 } }
    layers { dense { units: 10 } }
  }
  optimizer { adam {} }
  loss { sparse_categorical_crossentropy { from_logits: true } }
  data { dir: "unused" num_classes: 10 }
  training { batch_size: 64 epochs: 1 seed: 1 }
)pb";

constexpr int64_t kPixels = 28 * 28;

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

data::Dataset SyntheticDataset(int64_t n) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = kPixels;
  d.features.resize(static_cast<size_t>(n * kPixels));
  d.labels.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < d.features.size(); ++i) {
    d.features[i] = static_cast<float>(PhiloxBits(7, 0, 1, i) & 0xFF) * (1.0f / 255.0f);
  }
  for (size_t i = 0; i < d.labels.size(); ++i) d.labels[i] = PhiloxBits(7, 0, 2, i) % 10;
  return d;
}

// One row-major sgemm: C (m x n) = op(A) (m x k) * op(B) (k x n).
struct Gemm {
  int64_t m, n, k;
  bool trans_a, trans_b;
};

// The products of a forward (cols x W) and its backward: dW = cols^T x dY and,
// unless the layer reads the model's input, dcols = dY x W^T.
void AddLayerGemms(int64_t rows, int64_t k, int64_t n, bool input_grad, std::vector<Gemm>* gemms) {
  gemms->push_back({rows, n, k, false, false});
  gemms->push_back({k, n, rows, true, false});
  if (input_grad) gemms->push_back({rows, k, n, false, true});
}

std::vector<Gemm> CnnGemms(int64_t batch) {
  std::vector<Gemm> gemms;
  AddLayerGemms(batch * 26 * 26, 3 * 3 * 1, 32, /*input_grad=*/false, &gemms);
  AddLayerGemms(batch * 11 * 11, 3 * 3 * 32, 64, /*input_grad=*/true, &gemms);
  AddLayerGemms(batch, 5 * 5 * 64, 10, /*input_grad=*/true, &gemms);
  return gemms;
}

// Seconds per step of `gemms` alone as plain OpenBLAS calls with `threads`
// OpenBLAS threads; operands are distinct buffers sized for each product.
double GemmFloorSeconds(const std::vector<Gemm>& gemms, double seconds, int threads) {
  openblas_set_num_threads(threads);
  std::vector<std::vector<float>> a, b, c;
  for (const Gemm& g : gemms) {
    a.emplace_back(static_cast<size_t>(g.m * g.k), 0.5f);
    b.emplace_back(static_cast<size_t>(g.k * g.n), 0.01f);
    c.emplace_back(static_cast<size_t>(g.m * g.n));
  }
  auto step = [&] {
    for (size_t i = 0; i < gemms.size(); ++i) {
      const Gemm& g = gemms[i];
      const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
      cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans,
                  g.trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.f, a[i].data(),
                  g.trans_a ? m : k, b[i].data(), g.trans_b ? k : n, 0.f, c[i].data(), n);
    }
  };
  for (int i = 0; i < 5; ++i) step();
  int64_t steps = 0;
  auto start = Clock::now();
  while (Since(start) < seconds || steps < 3) {
    step();
    ++steps;
  }
  double result = Since(start) / static_cast<double>(steps);
  openblas_set_num_threads(1);  // what kernels/cpu runs OpenBLAS with
  return result;
}

// Seconds per Trainer::Step (batch gather, forward, loss, backward, Adam) of
// the reference CNN on synthetic data.
StatusOr<double> StepSeconds(int64_t batch, double seconds) {
  ASSIGN_OR_RETURN(config::JobConfig config, ParseJobConfig(kReferenceCnn, "cnn_bench"));
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
  std::vector<float> x(static_cast<size_t>(batch * kPixels));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  // Gathers the next batch (as Fit's in-memory batches do), then steps on it.
  auto step = [&] {
    if (position + batch > n) position = 0;
    GatherRows(train, order.data() + position, batch, x.data(), labels.data(), nullptr);
    position += batch;
    return trainer->Step(x.data(), loss::Targets::ClassIds(labels.data()), {batch, 0, batch},
                         &result);
  };
  for (int i = 0; i < 5; ++i) RETURN_IF_ERROR(step());
  int64_t steps = 0;
  auto start = Clock::now();
  while (Since(start) < seconds || steps < 3) {
    RETURN_IF_ERROR(step());
    ++steps;
  }
  return Since(start) / static_cast<double>(steps);
}

Status Run(const std::vector<std::string>& args) {
  std::optional<int64_t> batch_flag;
  std::optional<float> seconds_flag;
  FlagSet flags("cnn_bench", "cnn_bench --batch N [--seconds S]",
                "Times the reference CNN's training step and its GEMM floor.");
  flags.Int("batch", &batch_flag, "batch size (default 64)");
  flags.Float("seconds", &seconds_flag, "seconds to time each part (default 3)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  const int64_t batch = batch_flag.value_or(64);
  if (batch <= 0) return InvalidArgumentError("--batch must be positive");
  const double seconds = seconds_flag.value_or(3.0f);
  ASSIGN_OR_RETURN(const double step_seconds, StepSeconds(batch, seconds));
  // The floor is the faster of OpenBLAS single-threaded and on every core.
  const std::vector<Gemm> gemms = CnnGemms(batch);
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  double floor_seconds = GemmFloorSeconds(gemms, seconds / 2, 1);
  if (cores > 1) {
    floor_seconds = std::min(floor_seconds, GemmFloorSeconds(gemms, seconds / 2, cores));
  }
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
    std::cerr << "cnn_bench: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
