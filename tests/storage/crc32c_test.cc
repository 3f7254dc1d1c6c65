// Tests for storage/io/crc32c: published check values, masking, and agreement
// of the SSE4.2 and portable paths with a bit-by-bit reference.
#include "storage/io/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace shardtrain::storage {
namespace {

// Bit-at-a-time CRC-32C, written from the definition (independent of the tables).
uint32_t ReferenceCrc32c(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
  }
  return c ^ 0xFFFFFFFFu;
}

uint32_t CrcOf(const std::string& s) { return Crc32c(s.data(), s.size()); }

TEST(Crc32cTest, CheckValues) {
  EXPECT_EQ(CrcOf("123456789"), 0xE3069283u);
  EXPECT_EQ(CrcOf(""), 0u);
  EXPECT_EQ(CrcOf("abc"), 0x364B3FB7u);
  EXPECT_EQ(CrcOf("The quick brown fox jumps over the lazy dog"), 0x22620404u);
  // RFC 3720 (iSCSI) B.4 test vectors.
  std::vector<uint8_t> buf(32, 0x00);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x8A9136AAu);
  std::fill(buf.begin(), buf.end(), 0xFF);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), 0x113FDB5Cu);
}

TEST(Crc32cTest, PortablePathCheckValue) {
  EXPECT_EQ(internal::Crc32cExtendPortable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, HardwarePathCheckValue) {
  if (!internal::Crc32cHardwareAvailable()) GTEST_SKIP() << "CPU has no SSE4.2 crc32 instruction";
  EXPECT_EQ(internal::Crc32cExtendHardware(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, CombineEqualsWholeAtEverySplit) {
  const std::string text = "123456789";
  for (size_t split = 0; split <= text.size(); ++split) {
    const uint32_t head = Crc32c(text.data(), split);
    const uint32_t tail = Crc32c(text.data() + split, text.size() - split);
    EXPECT_EQ(Crc32cCombine(head, tail, text.size() - split), 0xE3069283u) << split;
  }
}

TEST(Crc32cTest, CombineOfThreeLargePieces) {
  // Lengths with many set bits exercise every squaring step.
  std::vector<uint8_t> data((size_t{1} << 20) + 12345);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
  const size_t a = 70001, b = 555555;
  const uint32_t crc_a = Crc32c(data.data(), a);
  const uint32_t crc_b = Crc32c(data.data() + a, b);
  const uint32_t crc_c = Crc32c(data.data() + a + b, data.size() - a - b);
  const uint32_t combined =
      Crc32cCombine(Crc32cCombine(crc_a, crc_b, b), crc_c, data.size() - a - b);
  EXPECT_EQ(combined, Crc32c(data.data(), data.size()));
  EXPECT_EQ(Crc32cCombine(crc_a, Crc32c(nullptr, 0), 0), crc_a);
}

TEST(Crc32cTest, ExtendEqualsWholeAtEverySplit) {
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  const uint32_t whole = CrcOf(text);
  for (size_t split = 0; split <= text.size(); ++split) {
    const uint32_t head = Crc32c(text.data(), split);
    EXPECT_EQ(Crc32cExtend(head, text.data() + split, text.size() - split), whole) << split;
  }
}

TEST(Crc32cTest, MaskMatchesSpecExample) {
  const uint8_t half[4] = {0x00, 0x00, 0x00, 0x3f};  // float 0.5, tf-formats.md §1.2.2
  EXPECT_EQ(Crc32c(half, 4), 0x26973E52u);
  EXPECT_EQ(Crc32cMask(0x26973E52u), 0x1F273806u);
  EXPECT_EQ(Crc32cUnmask(0x1F273806u), 0x26973E52u);
  // The empty table block (restart offset 0, one restart) plus its type byte 0
  // has the masked CRC of the metaindex trailer `00 c0 f2 a1 b0` (§1.2.4).
  const uint8_t empty_block[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
  EXPECT_EQ(Crc32cMask(Crc32c(empty_block, 9)), 0xB0A1F2C0u);
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t v = rng();
    EXPECT_EQ(Crc32cUnmask(Crc32cMask(v)), v);
    EXPECT_NE(Crc32cMask(v), v);
  }
}

TEST(Crc32cTest, PathsAgreeWithReferenceOnRandomBuffers) {
  std::mt19937 rng(12345);
  std::vector<uint8_t> storage(70000 + 16);
  for (auto& b : storage) b = static_cast<uint8_t>(rng());
  const bool hardware = internal::Crc32cHardwareAvailable();
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 67; ++n) lengths.push_back(n);
  for (size_t n : {127u, 255u, 511u, 1023u, 4097u, 12287u, 12288u, 12295u, 24589u, 65535u,
                   70001u - 16u}) lengths.push_back(n);
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n : lengths) {
      const uint8_t* p = storage.data() + offset;
      const uint32_t expected = ReferenceCrc32c(p, n);
      ASSERT_EQ(internal::Crc32cExtendPortable(0, p, n), expected)
          << "offset " << offset << " n " << n;
      ASSERT_EQ(Crc32c(p, n), expected) << "offset " << offset << " n " << n;
      if (hardware) {
        ASSERT_EQ(internal::Crc32cExtendHardware(0, p, n), expected)
            << "offset " << offset << " n " << n;
        // Extending across an unaligned split must agree too.
        const size_t split = n / 3;
        ASSERT_EQ(internal::Crc32cExtendHardware(internal::Crc32cExtendHardware(0, p, split),
                                                 p + split, n - split),
                  expected);
      }
    }
  }
  if (!hardware) GTEST_SKIP() << "CPU has no SSE4.2: only the portable path was checked";
}

}  // namespace
}  // namespace shardtrain::storage
