// Inverted dropout on the CPU. The mask is a pure function of
// (seed, step, layer, first_element + i) through Philox4x32-10, so it does not
// depend on threads, on how a batch is split, or on the backend. One Philox
// block yields the bits of four consecutive elements.
#include <algorithm>
#include <cstring>

#include "common/philox.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

// Philox costs ~4 ns per element, so dropout splits over threads much earlier
// than the memory-bound loops (a batch-32 x 512 layer is 16k elements).
constexpr int64_t kDropoutParallelThreshold = 1 << 12;

}  // namespace

void DropoutForward(const DropoutKey& key, float rate, const float* x, float* y, uint8_t* mask,
                    int64_t n) {
  if (n <= 0) return;
  if (rate <= 0.0f) {
    if (x != y) std::memmove(y, x, sizeof(float) * n);
    std::memset(mask, 1, static_cast<size_t>(n));
    return;
  }
  const uint32_t threshold = DropoutThreshold(rate);
  const float scale = 1.0f / (1.0f - rate);
  auto apply = [=](int64_t i, uint32_t bits) {
    const uint8_t keep = (bits >> 8) >= threshold ? 1 : 0;
    mask[i] = keep;
    y[i] = keep ? x[i] * scale : 0.0f;
  };

  // Elements before the first 4-aligned global index, then whole Philox blocks,
  // then the tail; PhiloxBits(e) is word e % 4 of block e / 4.
  const uint64_t first = key.first_element;
  const int64_t head = std::min<int64_t>(n, static_cast<int64_t>((4 - (first & 3)) & 3));
  for (int64_t i = 0; i < head; ++i) {
    apply(i, PhiloxBits(key.seed, key.step, key.layer, first + static_cast<uint64_t>(i)));
  }
  const int64_t blocks = (n - head) / 4;
  const uint64_t group0 = (first + static_cast<uint64_t>(head)) >> 2;
  const uint32_t key0 = static_cast<uint32_t>(key.seed);
  const uint32_t key1 = static_cast<uint32_t>(key.seed >> 32);
  const uint32_t step = static_cast<uint32_t>(key.step);
  const uint32_t layer = key.layer;
  ParallelFor(
      blocks, n >= kDropoutParallelThreshold,
      [=](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
          const uint64_t group = group0 + static_cast<uint64_t>(blk);
          const PhiloxBlock bits =
              Philox4x32(PhiloxBlock{{static_cast<uint32_t>(group),
                                      static_cast<uint32_t>(group >> 32), step, layer}},
                         key0, key1);
          const int64_t i = head + 4 * blk;
          for (int k = 0; k < 4; ++k) apply(i + k, bits.v[k]);
        }
      },
      16);
  for (int64_t i = head + 4 * blocks; i < n; ++i) {
    apply(i, PhiloxBits(key.seed, key.step, key.layer, first + static_cast<uint64_t>(i)));
  }
}

void DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx, int64_t n) {
  const float scale = rate > 0.0f ? 1.0f / (1.0f - rate) : 1.0f;
  ParallelFor(n, n >= kParallelThreshold, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dx[i] = mask[i] ? dy[i] * scale : 0.0f;
  });
}

}  // namespace shardtrain::kernels::cpu
