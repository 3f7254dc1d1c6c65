// Helpers for the kernel tests: seeded random buffers, a central
// finite-difference gradient of a scalar objective evaluated in fp32 kernels
// with double accumulation, and a check that results do not depend on the
// OpenMP thread count.
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "kernels/cpu/thread_plan.h"

namespace shardtrain::kernels::testing {

// n values uniform in [lo, hi), reproducible from `seed`.
inline std::vector<float> RandomVector(int64_t n, uint32_t seed, float lo = -1.0f,
                                       float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(static_cast<size_t>(n));
  for (float& v : out) v = dist(gen);
  return out;
}

// n values with magnitude in [0.1, 1) and random sign: away from relu's kink.
inline std::vector<float> RandomAwayFromZero(int64_t n, uint32_t seed) {
  std::vector<float> out = RandomVector(n, seed, 0.1f, 1.0f);
  std::mt19937 gen(seed ^ 0x5bd1e995u);
  for (float& v : out) {
    if (gen() & 1u) v = -v;
  }
  return out;
}

// Σ r ⊙ y in double.
inline double WeightedSum(const std::vector<float>& r, const std::vector<float>& y) {
  double sum = 0.0;
  for (size_t i = 0; i < r.size(); ++i) sum += static_cast<double>(r[i]) * y[i];
  return sum;
}

// d objective / d x[i] for every i by central differences; x is perturbed in
// place and restored. The step actually taken (after fp32 rounding) is used.
inline std::vector<double> NumericGradient(std::vector<float>& x,
                                           const std::function<double()>& objective,
                                           float h = 1e-2f) {
  std::vector<double> grad(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    const float plus = saved + h;
    const float minus = saved - h;
    x[i] = plus;
    const double lp = objective();
    x[i] = minus;
    const double lm = objective();
    x[i] = saved;
    grad[i] = (lp - lm) / (static_cast<double>(plus) - static_cast<double>(minus));
  }
  return grad;
}

// |analytic - numeric| <= rel · max(|numeric|, 0.1) element by element.
inline void ExpectGradientNear(const std::vector<float>& analytic,
                               const std::vector<double>& numeric, double rel = 1e-3) {
  ASSERT_EQ(analytic.size(), numeric.size());
  for (size_t i = 0; i < analytic.size(); ++i) {
    const double tol = rel * std::max(std::fabs(numeric[i]), 0.1);
    EXPECT_NEAR(analytic[i], numeric[i], tol) << "element " << i;
  }
}

// Expects run() (returning the results as floats) to give the same bits with
// 1, 2 and 3 OpenMP threads; restores the team size.
inline void ExpectSameBitsForAnyThreadCount(const std::function<std::vector<float>()>& run) {
  cpu::ApplyCpuThreadPlan();  // once per thread: applied now, it cannot override ours
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = run();
  for (int threads : {2, 3}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(run(), one) << threads << " threads";
  }
  omp_set_num_threads(saved);
}

}  // namespace shardtrain::kernels::testing
