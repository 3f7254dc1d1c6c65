// Initializers on the CPU: Keras glorot_uniform (n elements, the limit from
// fan_in and fan_out) drawn from Philox (element i of variable `stream` uses
// PhiloxBits(seed, 0, stream, i), so the values do not depend on threads or
// backend), and Fill.
#include <cmath>

#include "common/philox.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {

void GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in, int64_t fan_out) {
  // w (fan_in, fan_out)
  GlorotUniformN(seed, stream, w, fan_in * fan_out, fan_in, fan_out);
}

void GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n, int64_t fan_in,
                    int64_t fan_out) {
  if (n <= 0) return;
  const float limit = static_cast<float>(std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)));
  const float width = 2.0f * limit;
  const uint32_t key0 = static_cast<uint32_t>(seed);
  const uint32_t key1 = static_cast<uint32_t>(seed >> 32);
  const int64_t groups = (n + 3) / 4;
  // One Philox block gives the bits of elements 4g .. 4g+3.
  ParallelFor(
      groups, n >= kParallelThreshold,
      [=](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; ++g) {
          const uint64_t group = static_cast<uint64_t>(g);
          const PhiloxBlock bits =
              Philox4x32(PhiloxBlock{{static_cast<uint32_t>(group),
                                      static_cast<uint32_t>(group >> 32), 0u, stream}},
                         key0, key1);
          for (int64_t k = 0; k < 4 && 4 * g + k < n; ++k) {
            w[4 * g + k] = -limit + width * BitsToUniform(bits.v[k]);
          }
        }
      },
      16);
}

void Fill(float* x, float value, int64_t n) {
  ParallelFor(n, n >= kParallelThreshold, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) x[i] = value;
  });
}

}  // namespace shardtrain::kernels::cpu
