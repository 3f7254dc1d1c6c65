// Inverted dropout on the GPU. Element i's mask bit is a pure function of
// PhiloxBits(seed, step, layer, first_element + i) (common/philox.h, shared
// with the host), so masks are bit-identical to the CPU's for any launch shape.
#include "common/philox.h"
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void DropoutForwardKernel(DropoutKey key, uint32_t threshold, float scale,
                                     const float* x, float* y, uint8_t* mask, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    const uint32_t bits =
        PhiloxBits(key.seed, key.step, key.layer, key.first_element + static_cast<uint64_t>(i));
    const uint8_t keep = (bits >> 8) >= threshold ? 1 : 0;
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : 0.0f;
  }
}

__global__ void KeepAllKernel(const float* x, float* y, uint8_t* mask, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    y[i] = x[i];
    mask[i] = 1;
  }
}

__global__ void DropoutBackwardKernel(float scale, const uint8_t* mask, const float* dy, float* dx,
                                      int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { dx[i] = mask[i] ? dy[i] * scale : 0.0f; }
}

}  // namespace

cudaError_t DropoutForward(cudaStream_t stream, const DropoutKey& key, float rate, const float* x,
                           float* y, uint8_t* mask, int64_t n) {
  if (n <= 0) return cudaSuccess;
  if (rate <= 0.0f) {
    KeepAllKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(x, y, mask, n);
  } else {
    DropoutForwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(
        key, DropoutThreshold(rate), 1.0f / (1.0f - rate), x, y, mask, n);
  }
  return cudaGetLastError();
}

cudaError_t DropoutBackward(cudaStream_t stream, float rate, const uint8_t* mask, const float* dy,
                            float* dx, int64_t n) {
  if (n <= 0) return cudaSuccess;
  const float scale = rate > 0.0f ? 1.0f / (1.0f - rate) : 1.0f;
  DropoutBackwardKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(scale, mask, dy, dx, n);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
