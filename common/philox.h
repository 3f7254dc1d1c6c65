// Philox4x32-10: a counter-based random number generator (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC'11), usable from host and
// device code. Stateless: the output is a pure function of (key, counter), so
// CPU and CUDA kernels produce bit-identical streams for the same inputs.
//
// shardtrain keys every random draw by (seed, step, stream, element):
//   key     = {seed low 32 bits, seed high 32 bits}
//   counter = {element/4 low 32, element/4 high 32, step low 32, stream}
// and takes word element%4 of the 4-word block. `stream` separates users
// (a layer index for dropout, a variable index for initializers).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SHARDTRAIN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SHARDTRAIN_HOST_DEVICE inline
#endif

namespace shardtrain {

struct PhiloxBlock {
  uint32_t v[4];
};

namespace philox_internal {
constexpr uint32_t kMulA = 0xD2511F53u;
constexpr uint32_t kMulB = 0xCD9E8D57u;
constexpr uint32_t kWeylA = 0x9E3779B9u;
constexpr uint32_t kWeylB = 0xBB67AE85u;

SHARDTRAIN_HOST_DEVICE void MulHiLo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}
}  // namespace philox_internal

// One Philox4x32-10 block for `counter` under `key`.
SHARDTRAIN_HOST_DEVICE PhiloxBlock Philox4x32(PhiloxBlock counter, uint32_t key0, uint32_t key1) {
  using namespace philox_internal;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    MulHiLo(kMulA, counter.v[0], &hi0, &lo0);
    MulHiLo(kMulB, counter.v[2], &hi1, &lo1);
    counter = PhiloxBlock{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kWeylA;
    key1 += kWeylB;
  }
  return counter;
}

// The 32 random bits for `element` of the (seed, step, stream) sequence.
SHARDTRAIN_HOST_DEVICE uint32_t PhiloxBits(uint64_t seed, uint64_t step, uint32_t stream,
                                           uint64_t element) {
  uint64_t group = element >> 2;
  PhiloxBlock counter{{static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32),
                       static_cast<uint32_t>(step), stream}};
  PhiloxBlock out =
      Philox4x32(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return out.v[element & 3];
}

// Uniform float in [0, 1) with 24 random bits (exactly representable).
SHARDTRAIN_HOST_DEVICE float BitsToUniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

}  // namespace shardtrain
