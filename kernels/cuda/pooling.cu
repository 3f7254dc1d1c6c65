// MaxPool2D and AvgPool2D on the GPU, one thread per output element (forward)
// or per input element (backward, gather form: each input sums the gradient
// of the windows covering it in ascending output order; no atomics). Max
// pooling routes a window's gradient to its first maximum in row-major window
// order, as TF's MaxPoolGrad and the CPU backend; average pooling divides by
// the window's real (unpadded) input count. Formulas: cnn_elements.h.
#include "kernels/cuda/cnn_elements.h"
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void PoolForwardKernel(Conv2DGeometry g, const float* x, bool average, float* y,
                                  int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { y[i] = PoolForwardElement(g, x, average, i); }
}

__global__ void PoolBackwardKernel(Conv2DGeometry g, const float* x, const float* dy, bool average,
                                   float* dx, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { dx[i] = PoolBackwardElement(g, x, dy, average, i); }
}

cudaError_t PoolForward(cudaStream_t stream, const Conv2DGeometry& g, const float* x, bool average,
                        float* y) {
  const int64_t n = g.batch * g.out_h * g.out_w * g.in_c;
  if (n <= 0) return cudaSuccess;
  PoolForwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(g, x, average, y, n);
  return cudaGetLastError();
}

cudaError_t PoolBackward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                         const float* dy, bool average, float* dx) {
  const int64_t n = g.batch * g.in_h * g.in_w * g.in_c;
  if (n <= 0) return cudaSuccess;
  PoolBackwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(g, x, dy, average, dx, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t MaxPool2DForward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                             float* y) {
  return PoolForward(stream, g, x, /*average=*/false, y);
}

cudaError_t MaxPool2DBackward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                              const float* dy, float* dx) {
  return PoolBackward(stream, g, x, dy, /*average=*/false, dx);
}

cudaError_t AvgPool2DForward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                             float* y) {
  return PoolForward(stream, g, x, /*average=*/true, y);
}

cudaError_t AvgPool2DBackward(cudaStream_t stream, const Conv2DGeometry& g, const float* dy,
                              float* dx) {
  return PoolBackward(stream, g, nullptr, dy, /*average=*/true, dx);
}

}  // namespace shardtrain::kernels::cuda
