// The data movement of Conv2D on the GPU: im2col (each output pixel's window
// unrolled into a row, zeros for padding) and col2im in gather form (each
// input element sums the im2col entries it was copied to, in a fixed order:
// deterministic, no atomics). The products are cuBLAS sgemms in
// cuda_backend_cnn.cu; the per-element formulas are in cnn_elements.h.
#include "kernels/cuda/cnn_elements.h"
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void Im2colKernel(Conv2DGeometry g, const float* x, float* cols, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { cols[i] = Im2colElement(g, x, i); }
}

__global__ void Col2imKernel(Conv2DGeometry g, const float* dcols, float* dx, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { dx[i] = Col2imElement(g, dcols, i); }
}

}  // namespace

cudaError_t Im2col(cudaStream_t stream, const Conv2DGeometry& g, const float* x, float* cols) {
  const int64_t n = g.batch * g.out_h * g.out_w * Im2colColumns(g);
  if (n <= 0) return cudaSuccess;
  Im2colKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(g, x, cols, n);
  return cudaGetLastError();
}

cudaError_t Col2im(cudaStream_t stream, const Conv2DGeometry& g, const float* dcols, float* dx) {
  const int64_t n = g.batch * g.in_h * g.in_w * g.in_c;
  if (n <= 0) return cudaSuccess;
  Col2imKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(g, dcols, dx, n);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
