// Batch normalization over the last axis on the GPU, x viewed as (rows,
// channels). The per-channel reductions (moments, gradient sums) run one
// block per channel: each thread sums a fixed stride of rows in double, then
// a fixed shared-memory tree adds the threads' partials. The order depends
// only on rows, so results are deterministic (no float atomics). The
// elementwise parts (cnn_elements.h) repeat the CPU's float operations one
// for one, so with --fmad=false they match it bit for bit.
#include "kernels/cuda/cnn_elements.h"
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

constexpr int kReduceThreads = 256;  // a power of two: the tree halves it

// The sum of every thread's `value` over the block, in a fixed tree order;
// every thread gets it. All threads of the block must call it.
__device__ double BlockSum(double value, double* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // shared is reused by the next call
  return total;
}

// Block c: mean[c] = Σ x / rows, then variance[c] = Σ (x - mean)² / rows.
__global__ void MomentsKernel(const float* x, int64_t rows, int64_t channels, float* mean,
                              float* variance) {
  __shared__ double shared[kReduceThreads];
  const int64_t c = blockIdx.x;
  double sum = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += kReduceThreads) sum += x[r * channels + c];
  const double mu = rows > 0 ? BlockSum(sum, shared) / static_cast<double>(rows) : 0.0;
  double squares = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += kReduceThreads) {
    const double d = x[r * channels + c] - mu;
    squares += d * d;
  }
  const double var = rows > 0 ? BlockSum(squares, shared) / static_cast<double>(rows) : 0.0;
  if (threadIdx.x == 0) {
    mean[c] = static_cast<float>(mu);
    variance[c] = static_cast<float>(var);
  }
}

// Block c: dbeta[c] = Σ dy, dgamma[c] = (Σ dy (x - mean)) / sqrt(variance + ε),
// the sums in double, as the CPU.
__global__ void GradSumsKernel(const float* x, const float* dy, const float* mean,
                               const float* variance, float epsilon, float* dgamma, float* dbeta,
                               int64_t rows, int64_t channels) {
  __shared__ double shared[kReduceThreads];
  const int64_t c = blockIdx.x;
  const double mu = mean[c];
  double sum_dy = 0.0, sum_dy_centered = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += kReduceThreads) {
    const int64_t at = r * channels + c;
    sum_dy += dy[at];
    sum_dy_centered += static_cast<double>(dy[at]) * (static_cast<double>(x[at]) - mu);
  }
  const double total_dy = BlockSum(sum_dy, shared);
  const double total_dy_centered = BlockSum(sum_dy_centered, shared);
  if (threadIdx.x == 0) {
    dbeta[c] = static_cast<float>(total_dy);
    dgamma[c] = static_cast<float>(total_dy_centered *
                                   static_cast<double>(BatchNormInverseStd(variance[c], epsilon)));
  }
}

__global__ void ForwardKernel(const float* x, const float* mean, const float* variance,
                              const float* gamma, const float* beta, float epsilon, float* y,
                              int64_t channels, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    y[i] = BatchNormForwardElement(x, mean, variance, gamma, beta, epsilon, channels, i);
  }
}

__global__ void InputGradKernel(const float* x, const float* dy, const float* mean,
                                const float* variance, const float* gamma, const float* dgamma,
                                const float* dbeta, float epsilon, double count, float* dx,
                                int64_t channels, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    dx[i] = BatchNormInputGradElement(x, dy, mean, variance, gamma, dgamma, dbeta, epsilon, count,
                                      channels, i);
  }
}

}  // namespace

cudaError_t BatchNormMoments(cudaStream_t stream, const float* x, int64_t rows, int64_t channels,
                             float* mean, float* variance) {
  if (channels <= 0) return cudaSuccess;
  MomentsKernel<<<static_cast<unsigned>(channels), kReduceThreads, 0, stream>>>(x, rows, channels,
                                                                                mean, variance);
  return cudaGetLastError();
}

cudaError_t BatchNormForward(cudaStream_t stream, const float* x, const float* mean,
                             const float* variance, const float* gamma, const float* beta,
                             float epsilon, float* y, int64_t rows, int64_t channels) {
  const int64_t n = rows * channels;
  if (n <= 0) return cudaSuccess;
  ForwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(x, mean, variance, gamma, beta,
                                                             epsilon, y, channels, n);
  return cudaGetLastError();
}

cudaError_t BatchNormGradSums(cudaStream_t stream, const float* x, const float* dy,
                              const float* mean, const float* variance, float epsilon,
                              float* dgamma, float* dbeta, int64_t rows, int64_t channels) {
  if (channels <= 0) return cudaSuccess;
  GradSumsKernel<<<static_cast<unsigned>(channels), kReduceThreads, 0, stream>>>(
      x, dy, mean, variance, epsilon, dgamma, dbeta, rows, channels);
  return cudaGetLastError();
}

cudaError_t BatchNormInputGrad(cudaStream_t stream, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* gamma,
                               const float* dgamma, const float* dbeta, float epsilon, double count,
                               float* dx, int64_t rows, int64_t channels) {
  const int64_t n = rows * channels;
  if (n <= 0) return cudaSuccess;
  InputGradKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(
      x, dy, mean, variance, gamma, dgamma, dbeta, epsilon, count, dx, channels, n);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
