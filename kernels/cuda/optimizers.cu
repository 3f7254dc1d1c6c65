// Optimizer updates on the GPU: one elementwise kernel per optimizer over the
// flat parameter buffer, with the CPU's formulas and operation order
// (kernels/cpu/optimizers.cc; this target builds with --fmad=false, as the CPU
// kernels with -ffp-contract=off). Step-dependent scalars are computed on the
// host exactly as the CPU computes them.
#include <cmath>

#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void AdamKernel(float* weights, const float* grads, float* m, float* v, int64_t n,
                           float alpha, float one_minus_b1, float one_minus_b2, float eps) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    const float g = grads[i];
    const float mi = m[i] + (g - m[i]) * one_minus_b1;
    const float vi = v[i] + (g * g - v[i]) * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    weights[i] -= (mi * alpha) / (sqrtf(vi) + eps);
  }
}

__global__ void SgdKernel(float* weights, const float* grads, float* velocity, int64_t n, float lr,
                          float mu, bool nesterov) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    if (mu == 0.0f) {
      weights[i] -= lr * grads[i];
    } else {
      const float vi = mu * velocity[i] - lr * grads[i];
      velocity[i] = vi;
      weights[i] += nesterov ? mu * vi - lr * grads[i] : vi;
    }
  }
}

__global__ void RmspropKernel(float* weights, const float* grads, float* mean_square,
                              float* momentum_slot, int64_t n, float lr, float rho,
                              float one_minus_rho, float eps, float mu) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    const float g = grads[i];
    const float ms = rho * mean_square[i] + one_minus_rho * g * g;
    mean_square[i] = ms;
    if (mu > 0.0f) {
      const float mom = mu * momentum_slot[i] + lr * g / sqrtf(ms + eps);
      momentum_slot[i] = mom;
      weights[i] -= mom;
    } else {
      weights[i] -= lr * g / sqrtf(ms + eps);
    }
  }
}

}  // namespace

cudaError_t AdamUpdate(cudaStream_t stream, const AdamParams& params, float* weights,
                       const float* grads, float* m, float* v, int64_t n) {
  if (n <= 0) return cudaSuccess;
  const double t = static_cast<double>(params.iteration);
  const double b1_power = std::pow(static_cast<double>(params.beta_1), t);
  const double b2_power = std::pow(static_cast<double>(params.beta_2), t);
  const float alpha =
      static_cast<float>(params.learning_rate * std::sqrt(1.0 - b2_power) / (1.0 - b1_power));
  AdamKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(
      weights, grads, m, v, n, alpha, 1.0f - params.beta_1, 1.0f - params.beta_2, params.epsilon);
  return cudaGetLastError();
}

cudaError_t SgdUpdate(cudaStream_t stream, const SgdParams& params, float* weights,
                      const float* grads, float* velocity, int64_t n) {
  if (n <= 0) return cudaSuccess;
  SgdKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(weights, grads, velocity, n,
                                                         params.learning_rate, params.momentum,
                                                         params.nesterov);
  return cudaGetLastError();
}

cudaError_t RmspropUpdate(cudaStream_t stream, const RmspropParams& params, float* weights,
                          const float* grads, float* mean_square, float* momentum_slot,
                          int64_t n) {
  if (n <= 0) return cudaSuccess;
  RmspropKernel<<<GridFor(n), kThreadsPerBlock, 0, stream>>>(
      weights, grads, mean_square, momentum_slot, n, params.learning_rate, params.rho,
      1.0f - params.rho, params.epsilon, params.momentum);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
