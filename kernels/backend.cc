// The CPU backend's construction, activation names and window geometry
// (kernels/backend.h). CreateBackend is in backend_factory.cc.
#include "kernels/backend.h"

#include <algorithm>
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

namespace {

// One axis of WindowGeometry: false when the output would be empty.
bool AxisGeometry(bool same_padding, int64_t in, int64_t window, int64_t stride, int64_t* out,
                  int64_t* pad_before) {
  if (in <= 0 || window <= 0 || stride <= 0) return false;
  if (same_padding) {
    *out = in / stride + (in % stride != 0 ? 1 : 0);  // ceil, without overflow
    // (out - 1) * stride < in, so neither term overflows.
    const int64_t pad_total = std::max<int64_t>(window - in + (*out - 1) * stride, 0);
    *pad_before = pad_total / 2;  // TF puts the odd one at the bottom/right
    return true;
  }
  if (in < window) return false;
  *out = (in - window) / stride + 1;
  *pad_before = 0;
  return true;
}

}  // namespace

bool WindowGeometry(bool same_padding, Conv2DGeometry* g) {
  return AxisGeometry(same_padding, g->in_h, g->window_h, g->stride_h, &g->out_h, &g->pad_top) &&
         AxisGeometry(same_padding, g->in_w, g->window_w, g->stride_w, &g->out_w, &g->pad_left);
}

std::unique_ptr<KernelBackend> CreateCpuBackend() { return std::make_unique<cpu::CpuBackend>(); }

KernelBackend& SharedCpuBackend() {
  static KernelBackend* const backend = CreateCpuBackend().release();
  return *backend;
}

}  // namespace shardtrain::kernels
