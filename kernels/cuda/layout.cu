// Elementwise Add and the column copies of Concatenate (forward: each input
// into its column range of the output; backward: each range back out) on the
// GPU, one thread per element written. Exact: no arithmetic but the sum.
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void AddKernel(const float* a, const float* b, float* y, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { y[i] = a[i] + b[i]; }
}

__global__ void CopyColumnsIntoKernel(const float* src, int64_t src_cols, float* dst,
                                      int64_t dst_cols, int64_t col_offset, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    dst[(i / src_cols) * dst_cols + col_offset + i % src_cols] = src[i];
  }
}

__global__ void CopyColumnsFromKernel(const float* src, int64_t src_cols, int64_t col_offset,
                                      float* dst, int64_t dst_cols, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    dst[i] = src[(i / dst_cols) * src_cols + col_offset + i % dst_cols];
  }
}

}  // namespace

cudaError_t Add(cudaStream_t stream, const float* a, const float* b, float* y, int64_t n) {
  if (n <= 0) return cudaSuccess;
  AddKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(a, b, y, n);
  return cudaGetLastError();
}

cudaError_t CopyColumnsInto(cudaStream_t stream, const float* src, int64_t rows, int64_t src_cols,
                            float* dst, int64_t dst_cols, int64_t col_offset) {
  const int64_t n = rows * src_cols;
  if (n <= 0) return cudaSuccess;
  CopyColumnsIntoKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(src, src_cols, dst, dst_cols,
                                                                     col_offset, n);
  return cudaGetLastError();
}

cudaError_t CopyColumnsFrom(cudaStream_t stream, const float* src, int64_t rows, int64_t src_cols,
                            int64_t col_offset, float* dst, int64_t dst_cols) {
  const int64_t n = rows * dst_cols;
  if (n <= 0) return cudaSuccess;
  CopyColumnsFromKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(src, src_cols, col_offset, dst,
                                                                     dst_cols, n);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
