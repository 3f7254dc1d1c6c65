// Backend construction and activation names (kernels/backend.h).
#include "kernels/backend.h"

#include <string>

#include "kernels/cpu/cpu_backend.h"

namespace shardtrain::kernels {

std::string_view ActivationName(Activation activation) {
  switch (activation) {
    case Activation::kLinear:
      return "linear";
    case Activation::kRelu:
      return "relu";
    case Activation::kSigmoid:
      return "sigmoid";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSoftmax:
      return "softmax";
    case Activation::kGelu:
      return "gelu";
    case Activation::kGeluTanh:
      return "gelu_approximate";
  }
  return "unknown";
}

std::unique_ptr<KernelBackend> CreateCpuBackend() { return std::make_unique<cpu::CpuBackend>(); }

StatusOr<std::unique_ptr<KernelBackend>> CreateBackend(Device device) {
  switch (device) {
    case Device::kCpu:
      return CreateCpuBackend();
    case Device::kCuda:
      return UnimplementedError("the CUDA kernel backend is not implemented yet; use --device cpu");
  }
  return InvalidArgumentError("unknown device " + std::to_string(static_cast<int>(device)));
}

}  // namespace shardtrain::kernels
