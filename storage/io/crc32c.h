// CRC-32C (Castagnoli): the checksum of every TFRecord, tensor bundle and table
// block we read or write, plus TensorFlow's CRC masking.
//
// Contract: Crc32c(data, n) is CRC-32C with the reflected polynomial 0x82F63B78,
// initial value 0xFFFFFFFF and final xor 0xFFFFFFFF (check value:
// Crc32c("123456789", 9) == 0xE3069283). Crc32cExtend(Crc32c(a), b) ==
// Crc32c(a ‖ b). The SSE4.2 `crc32` instruction is used when the CPU has it
// (decided once, at first use); otherwise a portable table-driven version. Both
// give identical results. All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shardtrain::storage {

// CRC-32C of `crc`'s message followed by the `n` bytes at `data`, where `crc` is
// the finished CRC-32C of the earlier bytes (0 for none).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

// CRC-32C of the `n` bytes at `data`.
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// Crc32c(a ‖ b) from crc_a = Crc32c(a), crc_b = Crc32c(b) and b's length,
// without the bytes: lets ranks that each read a piece of one tensor check the
// whole tensor's CRC. O(log len_b) carry-less multiplications.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// TensorFlow stores CRCs masked so that a CRC of data that itself holds CRCs
// stays well distributed: mask(c) = rotate_right(c, 15) + 0xA282EAD8 (mod 2^32).
inline constexpr uint32_t kCrc32cMaskDelta = 0xA282EAD8u;

inline constexpr uint32_t Crc32cMask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kCrc32cMaskDelta;
}

// Inverse of Crc32cMask.
inline constexpr uint32_t Crc32cUnmask(uint32_t masked) {
  const uint32_t rotated = masked - kCrc32cMaskDelta;
  return (rotated >> 17) | (rotated << 15);
}

namespace internal {

// The two implementations behind Crc32cExtend, exposed for tests and benchmarks.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);
// Only valid when Crc32cHardwareAvailable() is true.
uint32_t Crc32cExtendHardware(uint32_t crc, const void* data, size_t n);
// True when this CPU (and this build) supports the SSE4.2 crc32 instruction.
bool Crc32cHardwareAvailable();

}  // namespace internal
}  // namespace shardtrain::storage
