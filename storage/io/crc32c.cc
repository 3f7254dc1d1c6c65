// CRC-32C: a slicing-by-8 table implementation plus an SSE4.2 one (three
// interleaved streams), picked at run time. See crc32c.h for the contract.
#include "storage/io/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SHARDTRAIN_CRC32C_X86 1
#include <nmmintrin.h>
#endif

namespace shardtrain::storage {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli polynomial

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of
// byte b followed by k zero bytes, which lets the loop fold 8 bytes per step.
constexpr Tables MakeTables() {
  Tables tables{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? kPolynomial : 0u);
    tables[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      const uint32_t prev = tables[k - 1][b];
      tables[k][b] = (prev >> 8) ^ tables[0][prev & 0xFFu];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();

inline uint64_t LoadLittleEndian64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

#if defined(SHARDTRAIN_CRC32C_X86)
// Three independent crc32 chains (covered at the block edges by
// Crc32cTest.PathsAgreeWithReferenceOnRandomBuffers) hide the instruction's 3-cycle latency: a
// block of 3 × kStreamBytes is checksummed as three streams, then joined with
// CRC linearity: raw(s, A‖B) = Shift(raw(s, A), |B|) ⊕ raw(0, B), where the
// "raw" state has no pre/post inversion and Shift(x, n) = raw(x, n zero bytes)
// is linear in x, so four 256-entry tables give it for the fixed n.
constexpr size_t kStreamBytes = 4096;

__attribute__((target("sse4.2"))) uint64_t RawSse42(uint64_t state, const uint8_t* p, size_t n) {
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    state = _mm_crc32_u64(state, word);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    state = _mm_crc32_u8(static_cast<uint32_t>(state), *p++);
    --n;
  }
  return state;
}

using ShiftTables = std::array<std::array<uint32_t, 256>, 4>;

ShiftTables MakeShiftTables() {
  static constexpr uint8_t kZeros[kStreamBytes] = {};
  ShiftTables tables{};
  for (size_t k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) {
      tables[k][b] = static_cast<uint32_t>(RawSse42(uint64_t{b} << (8 * k), kZeros, kStreamBytes));
    }
  }
  return tables;
}

inline uint32_t ShiftByStream(const ShiftTables& t, uint32_t x) {
  return t[0][x & 0xFF] ^ t[1][(x >> 8) & 0xFF] ^ t[2][(x >> 16) & 0xFF] ^ t[3][x >> 24];
}

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const uint8_t* p, size_t n) {
  static const ShiftTables shift = MakeShiftTables();
  uint64_t state = ~crc;
  // Align to 8 bytes so the 64-bit loads never straddle cache lines.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    state = _mm_crc32_u8(static_cast<uint32_t>(state), *p++);
    --n;
  }
  while (n >= 3 * kStreamBytes) {
    uint64_t a = state, b = 0, c = 0;
    for (size_t i = 0; i < kStreamBytes; i += 8) {
      uint64_t wa, wb, wc;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + kStreamBytes + i, 8);
      std::memcpy(&wc, p + 2 * kStreamBytes + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      c = _mm_crc32_u64(c, wc);
    }
    const uint32_t ab = ShiftByStream(shift, static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b);
    state = ShiftByStream(shift, ab) ^ static_cast<uint32_t>(c);
    p += 3 * kStreamBytes;
    n -= 3 * kStreamBytes;
  }
  return ~static_cast<uint32_t>(RawSse42(state, p, n));
}
#endif

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn ChooseExtend() {
  return internal::Crc32cHardwareAvailable() ? &internal::Crc32cExtendHardware
                                             : &internal::Crc32cExtendPortable;
}

}  // namespace

namespace internal {

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t state = ~crc;
  while (n >= 8) {
    const uint64_t word = LoadLittleEndian64(p) ^ state;
    state = kTables[7][word & 0xFF] ^ kTables[6][(word >> 8) & 0xFF] ^
            kTables[5][(word >> 16) & 0xFF] ^ kTables[4][(word >> 24) & 0xFF] ^
            kTables[3][(word >> 32) & 0xFF] ^ kTables[2][(word >> 40) & 0xFF] ^
            kTables[1][(word >> 48) & 0xFF] ^ kTables[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    state = (state >> 8) ^ kTables[0][(state ^ *p++) & 0xFFu];
    --n;
  }
  return ~state;
}

uint32_t Crc32cExtendHardware(uint32_t crc, const void* data, size_t n) {
#if defined(SHARDTRAIN_CRC32C_X86)
  return ExtendSse42(crc, static_cast<const uint8_t*>(data), n);
#else
  return Crc32cExtendPortable(crc, data, n);
#endif
}

bool Crc32cHardwareAvailable() {
#if defined(SHARDTRAIN_CRC32C_X86)
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
#else
  return false;
#endif
}

}  // namespace internal

namespace {

// Polynomials over GF(2) modulo the CRC polynomial, in the reflected layout of
// the CRC itself: bit 31 holds the coefficient of x^0, bit 0 that of x^31.
constexpr uint32_t kOne = 0x80000000u;  // x^0

uint32_t MultiplyModPolynomial(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t term = kOne; term != 0; term >>= 1) {  // x^0, x^1, ... of a
    if ((a & term) != 0) product ^= b;
    b = (b & 1u) != 0 ? (b >> 1) ^ kPolynomial : b >> 1;  // b *= x
  }
  return product;
}

// x^(8 * bytes) modulo the polynomial, by square-and-multiply.
uint32_t ShiftByBytes(uint64_t bytes) {
  uint32_t result = kOne;
  uint32_t power = kOne >> 8;  // x^8: one byte
  for (; bytes != 0; bytes >>= 1) {
    if ((bytes & 1u) != 0) result = MultiplyModPolynomial(result, power);
    power = MultiplyModPolynomial(power, power);
  }
  return result;
}

}  // namespace

// With the initial value and the final xor both all-ones, their effects cancel
// in a ‖ b: CRC(a ‖ b) = CRC(a) · x^(8·|b|) + CRC(b) (mod the polynomial).
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return MultiplyModPolynomial(crc_a, ShiftByBytes(len_b)) ^ crc_b;
}

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
  static const ExtendFn extend = ChooseExtend();
  return extend(crc, data, n);
}

}  // namespace shardtrain::storage
