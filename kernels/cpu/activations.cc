// Activation kernels on the CPU: relu, sigmoid, tanh, gelu, linear elementwise
// (split over threads above kParallelThreshold elements) and a numerically
// stable row softmax. Backward passes are written through the forward output
// y, GELU's through the forward input x (BackwardTakesInput).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

// y (rows, cols) = softmax(x) over each row, with the row max subtracted.
void SoftmaxRows(const float* x, float* y, int64_t rows, int64_t cols) {
  ParallelFor(
      rows, rows * cols >= kParallelThreshold,
      [=](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* xr = x + r * cols;
          float* yr = y + r * cols;
          float max = xr[0];
          for (int64_t c = 1; c < cols; ++c) max = std::max(max, xr[c]);
          float sum = 0.0f;
          for (int64_t c = 0; c < cols; ++c) {
            yr[c] = std::exp(xr[c] - max);
            sum += yr[c];
          }
          const float inv = 1.0f / sum;
          for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
        }
      },
      1);
}

// dx (rows, cols) = y ⊙ (dy - Σ_row dy ⊙ y).
void SoftmaxBackwardRows(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  ParallelFor(
      rows, rows * cols >= kParallelThreshold,
      [=](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* yr = y + r * cols;
          const float* dyr = dy + r * cols;
          float* dxr = dx + r * cols;
          float dot = 0.0f;
          for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
          for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - dot);
        }
      },
      1);
}

}  // namespace

float GeluValue(float x, bool approximate) {
  if (approximate) {
    // tf.nn.gelu(approximate=True), in its order of float operations.
    const float inner = kGeluTanhScale * (x + kGeluCubic * (x * x * x));
    return (0.5f * x) * (1.0f + std::tanh(inner));
  }
  return (0.5f * x) * (1.0f + std::erf(x / kSqrt2));
}

float GeluDerivative(float x, bool approximate) {
  // Beyond |x| = 20 the function is x or 0 to float precision; the formulas
  // below would meet inf * 0 there.
  if (std::fabs(x) > 20.0f) return x > 0.0f ? 1.0f : 0.0f;
  if (approximate) {
    const float t = std::tanh(kGeluTanhScale * (x + kGeluCubic * x * x * x));
    const float dinner = kGeluTanhScale * (1.0f + 3.0f * kGeluCubic * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner;
  }
  const float cdf = 0.5f * (1.0f + std::erf(x / kSqrt2));
  const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

void ActivationForward(Activation act, const float* x, float* y, int64_t rows, int64_t cols) {
  // x, y (rows, cols)
  const int64_t n = rows * cols;
  const bool parallel = n >= kParallelThreshold;
  switch (act) {
    case Activation::kLinear:
      if (x != y && n > 0) std::memmove(y, x, sizeof(float) * n);
      return;
    case Activation::kRelu:
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      });
      return;
    case Activation::kSigmoid:
      // exp of a non-positive argument only, so neither branch overflows.
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) {
          const float e = std::exp(-std::fabs(x[i]));
          const float inv = 1.0f / (1.0f + e);
          y[i] = x[i] >= 0.0f ? inv : e * inv;
        }
      });
      return;
    case Activation::kTanh:
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) y[i] = std::tanh(x[i]);
      });
      return;
    case Activation::kSoftmax:
      if (cols > 0) SoftmaxRows(x, y, rows, cols);
      return;
    case Activation::kGelu:
    case Activation::kGeluTanh: {
      const bool approximate = act == Activation::kGeluTanh;
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) y[i] = GeluValue(x[i], approximate);
      });
      return;
    }
  }
}

void ActivationBackward(Activation act, const float* y, const float* dy, float* dx, int64_t rows,
                        int64_t cols) {
  // y (the input x for GELU), dy, dx (rows, cols)
  const int64_t n = rows * cols;
  const bool parallel = n >= kParallelThreshold;
  switch (act) {
    case Activation::kLinear:
      if (dy != dx && n > 0) std::memmove(dx, dy, sizeof(float) * n);
      return;
    case Activation::kRelu:
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
      });
      return;
    case Activation::kSigmoid:
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
      });
      return;
    case Activation::kTanh:
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
      });
      return;
    case Activation::kSoftmax:
      if (cols > 0) SoftmaxBackwardRows(y, dy, dx, rows, cols);
      return;
    case Activation::kGelu:
    case Activation::kGeluTanh: {
      const bool approximate = act == Activation::kGeluTanh;
      ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * GeluDerivative(y[i], approximate);
      });
      return;
    }
  }
}

}  // namespace shardtrain::kernels::cpu
