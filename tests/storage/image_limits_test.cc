// Tests for the size limits of storage/image (issue 24): a few hundred bytes
// declaring a huge image are refused from the header, by the caller's
// max_pixels (DecodePng/DecodeJpeg) or expected shape (the *Into forms),
// before the decoder allocates the image or libjpeg its whole-image buffers;
// the limit is inclusive and never above kMaxImagePixels.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "storage/image/image_decode.h"
#include "tests/storage/jpeg_test_util.h"
#include "tests/storage/png_fixtures.h"

namespace shardtrain::storage {
namespace {

using shardtrain::testing::EncodeJpeg;

// 353 bytes of a truncated progressive JPEG whose frame header declares
// 2815 x 65360 RGB (552 MB of pixels); the fuzz seed
// huge_truncated_progressive.jpg of fuzz/make_seeds.py.
const std::string& HugeTruncatedJpeg() {
  static const std::string bytes = [] {
    const char* hex =
        "ffd8ffc20011080affff5003011100021101031101007a02ffda00080102017433ffd8ffe000104a4649460001"
        "0100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f14131d1a1f1e1d"
        "1a1c1c20242e2720222c231c1c2837292c30313434341f273932343c33383d2e32ffdb0043010109090c0b0c18"
        "0d0d1832211c213232323232323232323232323232320102030004113232323232323232323228323232323232"
        "3232323232323232323232323232323232323232ffc00011080008000803012200021101031101ffc400150001"
        "010000000000000000000000000000000000022ec4001d100002020203010000000000000000000000000103ff"
        "00c0600000c40015010101000000000000000000000000007e00000091ffda000c03010002110311cc42428cba"
        "008be855480f82321e4d398c64b3ddc902a04e467b342ca11751504927719fc42b30ffffd9d9";
    std::string out;
    for (const char* p = hex; p[0] != '\0'; p += 2) {
      out.push_back(static_cast<char>(std::stoi(std::string(p, 2), nullptr, 16)));
    }
    return out;
  }();
  return bytes;
}

// The peak resident memory of this process so far, in MiB.
int64_t PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

std::string_view View(const std::vector<uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST(ImageLimitsTest, TinyJpegDeclaringAHugeImageIsRefusedBeforeAllocating) {
  ASSERT_EQ(HugeTruncatedJpeg().size(), 353u);
  const int64_t peak_before = PeakRssMiB();
  const StatusOr<DecodedImage> image = DecodeJpeg(HugeTruncatedJpeg(), 28 * 28);
  EXPECT_EQ(image.status().code(), StatusCode::kResourceExhausted) << image.status();
  EXPECT_NE(image.status().message().find("2815 x 65360"), std::string::npos) << image.status();
  EXPECT_NE(image.status().message().find("784"), std::string::npos) << image.status();

  std::vector<uint8_t> pixels(28 * 28);
  const Status into = DecodeJpegInto(HugeTruncatedJpeg(), ImageShape{28, 28, 1}, pixels.data());
  EXPECT_EQ(into.code(), StatusCode::kInvalidArgument) << into;
  // Decoding it would have allocated and cleared 552 MB.
  EXPECT_LT(PeakRssMiB() - peak_before, 64) << "MiB more resident memory at the peak";
}

TEST(ImageLimitsTest, LimitIsInclusive) {
  const std::string jpeg = EncodeJpeg(std::vector<uint8_t>(8 * 8, 9), 8, 8, 1, JCS_GRAYSCALE);
  EXPECT_TRUE(DecodeJpeg(jpeg, 64).ok());
  EXPECT_EQ(DecodeJpeg(jpeg, 63).status().code(), StatusCode::kResourceExhausted);

  const png_fixtures::Fixture& png = png_fixtures::All().front();
  const int64_t pixels = png.height * png.width;
  EXPECT_TRUE(DecodePng(View(png.png), pixels).ok());
  EXPECT_EQ(DecodePng(View(png.png), pixels - 1).status().code(), StatusCode::kResourceExhausted);
}

TEST(ImageLimitsTest, NoLimitGoesAboveKMaxImagePixels) {
  // HugeGray declares 20000 x 20000, more than kMaxImagePixels.
  const StatusOr<DecodedImage> image =
      DecodePng(View(png_fixtures::HugeGray()), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(image.status().code(), StatusCode::kResourceExhausted) << image.status();
  EXPECT_NE(image.status().message().find(std::to_string(kMaxImagePixels)), std::string::npos)
      << image.status();
}

}  // namespace
}  // namespace shardtrain::storage
