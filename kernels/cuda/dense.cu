// Bias kernels of the Dense layer on the GPU (the GEMMs are cuBLAS calls in
// cuda_backend.cu). BiasGrad sums each column in row order, like the CPU.
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void BroadcastRowsKernel(const float* b, float* y, int64_t rows, int64_t cols) {
  SHARDTRAIN_GRID_STRIDE(i, rows * cols) { y[i] = b[i % cols]; }
}

__global__ void BiasAddKernel(float* y, const float* b, int64_t rows, int64_t cols) {
  SHARDTRAIN_GRID_STRIDE(i, rows * cols) { y[i] += b[i % cols]; }
}

// One thread per column; consecutive threads read consecutive columns of a row.
__global__ void BiasGradKernel(const float* dy, float* db, int64_t rows, int64_t cols) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float sum = 0.0f;
  for (int64_t r = 0; r < rows; ++r) sum += dy[r * cols + c];
  db[c] = sum;
}

}  // namespace

cudaError_t BroadcastRows(cudaStream_t stream, const float* b, float* y, int64_t rows,
                          int64_t cols) {
  if (rows * cols == 0) return cudaSuccess;
  BroadcastRowsKernel<<<GridFor(rows * cols), kThreadsPerBlock, 0, stream>>>(b, y, rows, cols);
  return cudaGetLastError();
}

cudaError_t BiasAdd(cudaStream_t stream, float* y, const float* b, int64_t rows, int64_t cols) {
  if (rows * cols == 0) return cudaSuccess;
  BiasAddKernel<<<GridFor(rows * cols), kThreadsPerBlock, 0, stream>>>(y, b, rows, cols);
  return cudaGetLastError();
}

cudaError_t BiasGrad(cudaStream_t stream, const float* dy, float* db, int64_t rows, int64_t cols) {
  if (cols == 0) return cudaSuccess;
  BiasGradKernel<<<GridFor(cols), kThreadsPerBlock, 0, stream>>>(dy, db, rows, cols);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
