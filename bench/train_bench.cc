// train_bench: examples/s of shardtrain's CPU training step for the reference
// MLP (784-512-10, dropout 0.2, Adam) at a given batch, and the GEMM-only floor:
// the same step's five sgemm calls timed alone with the same shapes (plain
// OpenBLAS, the faster of 1 thread and all cores).
//
// Prints one line: "shardtrain batch=B examples_per_sec=X step_ms=Y gemm_floor_ms=Z"
// (the timing itself is bench/step_timing.h's).
// Data is synthetic (random pixels and labels); the step's cost does not
// depend on the values. Usage: train_bench --batch 32 [--seconds 3]
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "bench/step_timing.h"
#include "common/flags.h"

namespace shardtrain {
namespace {

constexpr char kReferenceModel[] = R"pb(
  name: "bench"
  model {
    input_shape: [ 784 ]
    layers { dense { units: 512 activation: RELU } }
    layers { dropout { rate: 0.2 } }
    layers { dense { units: 10 } }
  }
  optimizer { adam {} }
  loss { sparse_categorical_crossentropy { from_logits: true } }
  data { dir: "unused" num_classes: 10 }
  training { batch_size: 32 epochs: 1 seed: 1 }
)pb";

// The step's five products: forward x·W1 and h·W2, backward dW2 = hᵀ·dy,
// dh = dy·W2ᵀ and dW1 = xᵀ·dh.
std::vector<bench::Gemm> MlpGemms(int64_t batch) {
  return {{batch, 512, 784, false, false},
          {batch, 10, 512, false, false},
          {512, 10, batch, true, false},
          {batch, 512, 10, false, true},
          {784, 512, batch, true, false}};
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
  if (batch <= 0) return InvalidArgumentError("--batch must be positive");
  const double seconds = seconds_flag.value_or(3.0f);
  ASSIGN_OR_RETURN(const double step_seconds,
                   bench::TrainerStepSeconds(kReferenceModel, 784, batch, seconds));
  bench::PrintStepLine(batch, step_seconds, bench::GemmFloorSeconds(MlpGemms(batch), seconds));
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
