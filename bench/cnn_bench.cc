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
// Prints one line: "shardtrain batch=B examples_per_sec=X step_ms=Y gemm_floor_ms=Z"
// (the timing itself is bench/step_timing.h's).
// Data is synthetic (random pixels and labels); the step's cost does not
// depend on the values. Usage: cnn_bench --batch 64 [--seconds 3]
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "bench/step_timing.h"
#include "common/flags.h"

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

// The products of a forward (cols x W) and its backward: dW = cols^T x dY and,
// unless the layer reads the model's input, dcols = dY x W^T.
void AddLayerGemms(int64_t rows, int64_t k, int64_t n, bool input_grad,
                   std::vector<bench::Gemm>* gemms) {
  gemms->push_back({rows, n, k, false, false});
  gemms->push_back({k, n, rows, true, false});
  if (input_grad) gemms->push_back({rows, k, n, false, true});
}

std::vector<bench::Gemm> CnnGemms(int64_t batch) {
  std::vector<bench::Gemm> gemms;
  AddLayerGemms(batch * 26 * 26, 3 * 3 * 1, 32, /*input_grad=*/false, &gemms);
  AddLayerGemms(batch * 11 * 11, 3 * 3 * 32, 64, /*input_grad=*/true, &gemms);
  AddLayerGemms(batch, 5 * 5 * 64, 10, /*input_grad=*/true, &gemms);
  return gemms;
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
  ASSIGN_OR_RETURN(const double step_seconds,
                   bench::TrainerStepSeconds(kReferenceCnn, 28 * 28, batch, seconds));
  bench::PrintStepLine(batch, step_seconds, bench::GemmFloorSeconds(CnnGemms(batch), seconds));
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
