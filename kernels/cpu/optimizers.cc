// Optimizer updates on the CPU, one pass over a flat parameter buffer, with the
// Keras 3 formulas of kernels/backend.h. Purely elementwise (split over OpenMP
// threads above kParallelThreshold), so results do not depend on the thread count.
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/vector_clones.h"

namespace shardtrain::kernels::cpu {
namespace {

// The Adam loop body over n elements; vectorized per CPU (vector_clones.h).
SHARDTRAIN_VECTOR_CLONES void AdamRange(float* __restrict weights, const float* __restrict grads,
                                        float* __restrict m, float* __restrict v, int64_t n,
                                        float alpha, float one_minus_b1, float one_minus_b2,
                                        float eps) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grads[i];
    const float mi = m[i] + (g - m[i]) * one_minus_b1;
    const float vi = v[i] + (g * g - v[i]) * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    weights[i] -= (mi * alpha) / (std::sqrt(vi) + eps);
  }
}

}  // namespace

void AdamUpdate(const AdamParams& params, float* weights, const float* grads, float* m, float* v,
                int64_t n) {
  // weights, grads, m, v (n)
  const double t = static_cast<double>(params.iteration);
  const double b1_power = std::pow(static_cast<double>(params.beta_1), t);
  const double b2_power = std::pow(static_cast<double>(params.beta_2), t);
  const float alpha =
      static_cast<float>(params.learning_rate * std::sqrt(1.0 - b2_power) / (1.0 - b1_power));
  const float one_minus_b1 = 1.0f - params.beta_1;
  const float one_minus_b2 = 1.0f - params.beta_2;
  const float eps = params.epsilon;
  ParallelFor(n, n >= kParallelThreshold, [=](int64_t lo, int64_t hi) {
    AdamRange(weights + lo, grads + lo, m + lo, v + lo, hi - lo, alpha, one_minus_b1, one_minus_b2,
              eps);
  });
}

void SgdUpdate(const SgdParams& params, float* weights, const float* grads, float* velocity,
               int64_t n) {
  // weights, grads, velocity (n)
  const float lr = params.learning_rate;
  const float mu = params.momentum;
  const bool parallel = n >= kParallelThreshold;
  if (mu == 0.0f) {
    ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) weights[i] -= lr * grads[i];
    });
    return;
  }
  if (params.nesterov) {
    ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const float vi = mu * velocity[i] - lr * grads[i];
        velocity[i] = vi;
        weights[i] += mu * vi - lr * grads[i];
      }
    });
  } else {
    ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const float vi = mu * velocity[i] - lr * grads[i];
        velocity[i] = vi;
        weights[i] += vi;
      }
    });
  }
}

void RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                   float* mean_square, float* momentum_slot, int64_t n) {
  // weights, grads, mean_square, momentum_slot (n)
  const float lr = params.learning_rate;
  const float rho = params.rho;
  const float one_minus_rho = 1.0f - rho;
  const float eps = params.epsilon;
  const float mu = params.momentum;
  const bool parallel = n >= kParallelThreshold;
  if (mu > 0.0f) {
    ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const float g = grads[i];
        const float ms = rho * mean_square[i] + one_minus_rho * g * g;
        mean_square[i] = ms;
        const float mom = mu * momentum_slot[i] + lr * g / std::sqrt(ms + eps);
        momentum_slot[i] = mom;
        weights[i] -= mom;
      }
    });
  } else {
    ParallelFor(n, parallel, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const float g = grads[i];
        const float ms = rho * mean_square[i] + one_minus_rho * g * g;
        mean_square[i] = ms;
        weights[i] -= lr * g / std::sqrt(ms + eps);
      }
    });
  }
}

}  // namespace shardtrain::kernels::cpu
