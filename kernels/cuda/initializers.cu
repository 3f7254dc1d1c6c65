// Initializers on the GPU: glorot_uniform from the same Philox stream as the
// CPU (element i draws BitsToUniform(PhiloxBits(seed, 0, stream, i))), for a
// Dense (fan_in, fan_out) matrix or any n elements (a conv kernel), and Fill.
#include <cmath>

#include "common/philox.h"
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void GlorotKernel(uint64_t seed, uint32_t stream_id, float* w, int64_t n, float limit,
                             float width) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    w[i] = -limit + width * BitsToUniform(PhiloxBits(seed, 0, stream_id, static_cast<uint64_t>(i)));
  }
}

__global__ void FillKernel(float* x, float value, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { x[i] = value; }
}

}  // namespace

cudaError_t GlorotUniform(cudaStream_t stream, uint64_t seed, uint32_t stream_id, float* w,
                          int64_t fan_in, int64_t fan_out) {
  return GlorotUniformN(stream, seed, stream_id, w, fan_in * fan_out, fan_in, fan_out);
}

cudaError_t GlorotUniformN(cudaStream_t stream, uint64_t seed, uint32_t stream_id, float* w,
                           int64_t n, int64_t fan_in, int64_t fan_out) {
  if (n <= 0) return cudaSuccess;
  const float limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
  GlorotKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(seed, stream_id, w, n, limit,
                                                            2.0f * limit);
  return cudaGetLastError();
}

cudaError_t Fill(cudaStream_t stream, float* x, float value, int64_t n) {
  if (n <= 0) return cudaSuccess;
  FillKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(x, value, n);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
