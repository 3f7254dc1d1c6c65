// Philox4x32-10 (common/philox.h): Random123 known-answer vectors, the
// (seed, step, stream, element) keying of PhiloxBits, and BitsToUniform.
#include "common/philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

namespace shardtrain {
namespace {

void ExpectBlock(const PhiloxBlock& got, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  EXPECT_EQ(got.v[0], a);
  EXPECT_EQ(got.v[1], b);
  EXPECT_EQ(got.v[2], c);
  EXPECT_EQ(got.v[3], d);
}

// Known-answer vectors of Random123's kat_vectors for philox4x32 with 10 rounds.
TEST(PhiloxTest, KnownAnswerZero) {
  ExpectBlock(Philox4x32(PhiloxBlock{{0, 0, 0, 0}}, 0, 0), 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu,
              0x9b00dbd8u);
}

TEST(PhiloxTest, KnownAnswerAllOnes) {
  ExpectBlock(Philox4x32(PhiloxBlock{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
                         0xffffffffu, 0xffffffffu),
              0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
}

TEST(PhiloxTest, KnownAnswerPiDigits) {
  ExpectBlock(Philox4x32(PhiloxBlock{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                         0xa4093822u, 0x299f31d0u),
              0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

TEST(PhiloxBitsTest, IsWordElementMod4OfTheDocumentedCounter) {
  const uint64_t seed = 0x0123456789abcdefull;
  const uint64_t step = 0x1122334455ull;  // only the low 32 bits enter the counter
  const uint32_t stream = 9;
  for (uint64_t element : {uint64_t{0}, uint64_t{1}, uint64_t{6}, uint64_t{0x500000003ull}}) {
    const uint64_t group = element / 4;
    const PhiloxBlock block =
        Philox4x32(PhiloxBlock{{static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32),
                                static_cast<uint32_t>(step), stream}},
                   0x89abcdefu, 0x01234567u);
    EXPECT_EQ(PhiloxBits(seed, step, stream, element), block.v[element % 4]) << element;
  }
  EXPECT_EQ(PhiloxBits(0, 0, 0, 0), 0x6627e8d5u);
  EXPECT_EQ(PhiloxBits(0, 0, 0, 3), 0x9b00dbd8u);
}

TEST(PhiloxBitsTest, EveryKeyComponentChangesTheStream) {
  const uint32_t base = PhiloxBits(1, 2, 3, 4);
  EXPECT_EQ(PhiloxBits(1, 2, 3, 4), base);
  EXPECT_NE(PhiloxBits(2, 2, 3, 4), base);
  EXPECT_NE(PhiloxBits(1ull | (1ull << 40), 2, 3, 4), base);  // high seed bits count
  EXPECT_NE(PhiloxBits(1, 3, 3, 4), base);
  EXPECT_NE(PhiloxBits(1, 2, 4, 4), base);
  EXPECT_NE(PhiloxBits(1, 2, 3, 5), base);
}

TEST(PhiloxBitsTest, BitsLookUniform) {
  // Over 2^16 draws each of the 32 bit positions is set about half the time
  // (std 128 draws; allow ~5 sigma) and there are no repeated words to speak of.
  const int n = 1 << 16;
  std::vector<int> ones(32, 0);
  std::set<uint32_t> distinct;
  for (int i = 0; i < n; ++i) {
    const uint32_t bits = PhiloxBits(2024, 1, 0, static_cast<uint64_t>(i));
    distinct.insert(bits);
    for (int b = 0; b < 32; ++b) ones[b] += (bits >> b) & 1u;
  }
  for (int b = 0; b < 32; ++b) EXPECT_NEAR(ones[b], n / 2, 640) << "bit " << b;
  EXPECT_GE(distinct.size(), static_cast<size_t>(n - 5));
}

TEST(BitsToUniformTest, UsesTheTop24BitsAndStaysBelowOne) {
  EXPECT_EQ(BitsToUniform(0), 0.0f);
  EXPECT_EQ(BitsToUniform(0xffu), 0.0f);  // the low 8 bits are dropped
  EXPECT_EQ(BitsToUniform(0x80000000u), 0.5f);
  EXPECT_EQ(BitsToUniform(0x00000100u), 1.0f / 16777216.0f);
  EXPECT_EQ(BitsToUniform(0xffffffffu), 16777215.0f / 16777216.0f);
  EXPECT_LT(BitsToUniform(0xffffffffu), 1.0f);
}

TEST(BitsToUniformTest, MeanAndVarianceOfUniform) {
  const int n = 1 << 18;
  double sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < n; ++i) {
    const double u = BitsToUniform(PhiloxBits(5, 0, 1, static_cast<uint64_t>(i)));
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum_sq += u * u;
  }
  const double mean = sum / n;
  EXPECT_NEAR(mean, 0.5, 0.003);  // std ≈ 5.6e-4
  EXPECT_NEAR(sum_sq / n - mean * mean, 1.0 / 12.0, 0.002);
}

}  // namespace
}  // namespace shardtrain
