// Activation kernels on the GPU: the CPU's formulas (kernels/cpu/activations.cc)
// elementwise (GELU's backward through the forward input x, as on the CPU),
// and a row softmax with the row max subtracted, one thread per row summing
// left to right as the CPU does.
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__device__ float GeluValue(float x, bool approximate) {
  if (approximate) {
    const float inner = kGeluTanhScale * (x + kGeluCubic * (x * x * x));
    return (0.5f * x) * (1.0f + tanhf(inner));
  }
  return (0.5f * x) * (1.0f + erff(x / kSqrt2));
}

__device__ float GeluDerivative(float x, bool approximate) {
  if (fabsf(x) > 20.0f) return x > 0.0f ? 1.0f : 0.0f;
  if (approximate) {
    const float t = tanhf(kGeluTanhScale * (x + kGeluCubic * x * x * x));
    const float dinner = kGeluTanhScale * (1.0f + 3.0f * kGeluCubic * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * dinner;
  }
  const float cdf = 0.5f * (1.0f + erff(x / kSqrt2));
  const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

__global__ void ForwardKernel(Activation act, const float* x, float* y, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    const float v = x[i];
    switch (act) {
      case Activation::kRelu:
        y[i] = v > 0.0f ? v : 0.0f;
        break;
      case Activation::kSigmoid: {
        const float e = expf(-fabsf(v));
        const float inv = 1.0f / (1.0f + e);
        y[i] = v >= 0.0f ? inv : e * inv;
        break;
      }
      case Activation::kTanh:
        y[i] = tanhf(v);
        break;
      case Activation::kGelu:
      case Activation::kGeluTanh:
        y[i] = GeluValue(v, act == Activation::kGeluTanh);
        break;
      default:
        y[i] = v;
    }
  }
}

__global__ void BackwardKernel(Activation act, const float* y, const float* dy, float* dx,
                               int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    switch (act) {
      case Activation::kRelu:
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
      case Activation::kSigmoid:
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
      case Activation::kTanh:
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
      case Activation::kGelu:
      case Activation::kGeluTanh:  // y holds the forward input x
        dx[i] = dy[i] * GeluDerivative(y[i], act == Activation::kGeluTanh);
        break;
      default:
        dx[i] = dy[i];
    }
  }
}

__global__ void SoftmaxRowsKernel(const float* x, float* y, int64_t rows, int64_t cols) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const float* xr = x + r * cols;
  float* yr = y + r * cols;
  float max = xr[0];
  for (int64_t c = 1; c < cols; ++c) max = fmaxf(max, xr[c]);
  float sum = 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    yr[c] = expf(xr[c] - max);
    sum += yr[c];
  }
  const float inv = 1.0f / sum;
  for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
}

__global__ void SoftmaxBackwardRowsKernel(const float* y, const float* dy, float* dx, int64_t rows,
                                          int64_t cols) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= rows) return;
  const float* yr = y + r * cols;
  const float* dyr = dy + r * cols;
  float* dxr = dx + r * cols;
  float dot = 0.0f;
  for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
  for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - dot);
}

}  // namespace

cudaError_t ActivationForward(cudaStream_t stream, Activation act, const float* x, float* y,
                              int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  if (act == Activation::kSoftmax) {
    SoftmaxRowsKernel<<<GridFor(rows), kThreadsPerBlock, 0, stream>>>(x, y, rows, cols);
  } else if (act == Activation::kLinear) {
    if (x == y) return cudaSuccess;
    return cudaMemcpyAsync(y, x, sizeof(float) * n, cudaMemcpyDeviceToDevice, stream);
  } else {
    ForwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(act, x, y, n);
  }
  return cudaGetLastError();
}

cudaError_t ActivationBackward(cudaStream_t stream, Activation act, const float* y,
                               const float* dy, float* dx, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  if (act == Activation::kSoftmax) {
    SoftmaxBackwardRowsKernel<<<GridFor(rows), kThreadsPerBlock, 0, stream>>>(y, dy, dx, rows,
                                                                              cols);
  } else if (act == Activation::kLinear) {
    if (dy == dx) return cudaSuccess;
    return cudaMemcpyAsync(dx, dy, sizeof(float) * n, cudaMemcpyDeviceToDevice, stream);
  } else {
    BackwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(act, y, dy, dx, n);
  }
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
