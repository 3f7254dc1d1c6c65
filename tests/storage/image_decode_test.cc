// Tests for storage/image: PNGs built byte by byte by make_png_fixtures.py
// (every colour type the decoder converts, interlacing, 16 and 1-bit samples)
// decode to their known pixels; JPEGs encoded here with libjpeg decode to the
// pixels encoded (exactly for flat gray, within a small tolerance otherwise);
// corrupt, truncated and oversized inputs give their error codes (every
// prefix and bit flip of the test files is tried); PNG/JPEG
// files under the shared test data, if any, decode.
#include "storage/image/image_decode.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/storage/jpeg_test_util.h"
#include "tests/storage/png_fixtures.h"

namespace shardtrain::storage {
namespace {

using shardtrain::testing::EncodeJpeg;

std::string_view View(const std::vector<uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

TEST(PngDecodeTest, FixturesDecodeToTheirPixels) {
  for (const png_fixtures::Fixture& fixture : png_fixtures::All()) {
    SCOPED_TRACE(fixture.name);
    StatusOr<DecodedImage> image = DecodePng(View(fixture.png));
    ASSERT_TRUE(image.ok()) << image.status();
    EXPECT_EQ(image->shape, (ImageShape{fixture.height, fixture.width, fixture.channels}));
    EXPECT_EQ(image->pixels, fixture.pixels);
  }
}

TEST(PngDecodeTest, DecodesIntoTheCallersBufferWhenTheShapeMatches) {
  for (const png_fixtures::Fixture& fixture : png_fixtures::All()) {
    SCOPED_TRACE(fixture.name);
    std::vector<uint8_t> pixels(fixture.pixels.size(), 0xAB);
    const ImageShape shape{fixture.height, fixture.width, fixture.channels};
    ASSERT_TRUE(DecodePngInto(View(fixture.png), shape, pixels.data()).ok());
    EXPECT_EQ(pixels, fixture.pixels);
  }
}

TEST(PngDecodeTest, AnotherShapeIsInvalidArgumentNamingBoth) {
  const png_fixtures::Fixture& rgb = png_fixtures::All()[1];
  ASSERT_EQ(rgb.channels, 3);
  std::vector<uint8_t> pixels(4);
  const Status status = DecodePngInto(View(rgb.png), ImageShape{2, 2, 1}, pixels.data());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("[2, 2, 3]"), std::string::npos) << status;
  EXPECT_NE(status.message().find("expected [2, 2, 1]"), std::string::npos) << status;
}

TEST(PngDecodeTest, CorruptOrTruncatedDataIsDataLoss) {
  const std::vector<uint8_t>& png = png_fixtures::All()[0].png;
  std::vector<uint8_t> flipped = png;
  flipped[png.size() - 20] ^= 0x40;  // inside IDAT: its CRC no longer matches
  const std::vector<uint8_t> truncated(png.begin(), png.end() - 15);
  const std::vector<uint8_t> no_signature(png.begin() + 1, png.end());
  for (const std::vector<uint8_t>& bytes :
       {flipped, truncated, no_signature, std::vector<uint8_t>{}}) {
    const StatusOr<DecodedImage> image = DecodePng(View(bytes));
    EXPECT_EQ(image.status().code(), StatusCode::kDataLoss) << image.status();
    std::vector<uint8_t> pixels(6);
    EXPECT_EQ(DecodePngInto(View(bytes), ImageShape{2, 3, 1}, pixels.data()).code(),
              StatusCode::kDataLoss);
  }
}

TEST(PngDecodeTest, HugeDeclaredSizeIsRefusedBeforeAllocating) {
  const StatusOr<DecodedImage> image = DecodePng(View(png_fixtures::HugeGray()));
  EXPECT_EQ(image.status().code(), StatusCode::kResourceExhausted) << image.status();
  EXPECT_NE(image.status().message().find("20000 x 20000"), std::string::npos) << image.status();
  std::vector<uint8_t> pixels(28 * 28);
  EXPECT_EQ(
      DecodePngInto(View(png_fixtures::HugeGray()), ImageShape{28, 28, 1}, pixels.data()).code(),
      StatusCode::kInvalidArgument);
}

TEST(JpegDecodeTest, FlatGrayDecodesExactly) {
  const std::vector<uint8_t> pixels(16 * 24, 100);
  const std::string jpeg = EncodeJpeg(pixels, 16, 24, 1, JCS_GRAYSCALE);
  const StatusOr<DecodedImage> image = DecodeJpeg(jpeg);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->shape, (ImageShape{16, 24, 1}));
  EXPECT_EQ(image->pixels, pixels);
}

TEST(JpegDecodeTest, ColourAndGradientsDecodeWithinASmallTolerance) {
  constexpr int kHeight = 8;
  constexpr int kWidth = 16;
  std::vector<uint8_t> pixels(kHeight * kWidth * 3);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      uint8_t* p = &pixels[static_cast<size_t>((y * kWidth + x) * 3)];
      p[0] = static_cast<uint8_t>(200);
      p[1] = static_cast<uint8_t>(40 + 4 * x);
      p[2] = static_cast<uint8_t>(60 + 8 * y);
    }
  }
  std::vector<uint8_t> decoded(pixels.size());
  const std::string jpeg = EncodeJpeg(pixels, kHeight, kWidth, 3, JCS_RGB);
  ASSERT_TRUE(DecodeJpegInto(jpeg, ImageShape{kHeight, kWidth, 3}, decoded.data()).ok());
  // Quality 100 and 4:4:4 leave only rounding and the fast integer IDCT
  // (decode_jpeg's default), which is off by up to ~5 levels on steep ramps.
  for (size_t i = 0; i < pixels.size(); ++i) {
    EXPECT_NEAR(decoded[i], pixels[i], 6) << "value " << i;
  }
}

TEST(JpegDecodeTest, TruncatedOrCorruptDataIsDataLoss) {
  const std::string jpeg = EncodeJpeg(std::vector<uint8_t>(32 * 32, 7), 32, 32, 1, JCS_GRAYSCALE);
  std::vector<uint8_t> pixels(32 * 32);
  for (const std::string& bytes : {jpeg.substr(0, jpeg.size() / 2), jpeg.substr(0, jpeg.size() - 2),
                                   std::string("not a jpeg"), std::string()}) {
    const StatusOr<DecodedImage> image = DecodeJpeg(bytes);
    EXPECT_EQ(image.status().code(), StatusCode::kDataLoss) << image.status();
    EXPECT_EQ(DecodeJpegInto(bytes, ImageShape{32, 32, 1}, pixels.data()).code(),
              StatusCode::kDataLoss);
  }
}

TEST(JpegDecodeTest, AnotherShapeIsInvalidArgument) {
  const std::string jpeg = EncodeJpeg(std::vector<uint8_t>(8 * 8, 50), 8, 8, 1, JCS_GRAYSCALE);
  std::vector<uint8_t> pixels(8 * 8 * 3);
  const Status status = DecodeJpegInto(jpeg, ImageShape{8, 8, 3}, pixels.data());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("[8, 8, 1]"), std::string::npos) << status;
}

TEST(JpegDecodeTest, CmykIsInvalidArgument) {
  const std::string jpeg = EncodeJpeg(std::vector<uint8_t>(8 * 8 * 4, 50), 8, 8, 4, JCS_CMYK);
  EXPECT_EQ(DecodeJpeg(jpeg).status().code(), StatusCode::kInvalidArgument);
}

// Every strict prefix of a valid file is DataLoss, and every single-bit flip
// either decodes or fails with a Status (never a crash: run under ASan too).
void ExpectDamageFailsCleanly(const std::string& bytes, bool png) {
  auto decode = [png](std::string_view data) {
    return (png ? DecodePng(data) : DecodeJpeg(data)).status();
  };
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_EQ(decode(bytes.substr(0, size)).code(), StatusCode::kDataLoss) << "prefix " << size;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      const StatusCode code = decode(damaged).code();
      EXPECT_TRUE(code == StatusCode::kOk || code == StatusCode::kDataLoss ||
                  code == StatusCode::kInvalidArgument || code == StatusCode::kResourceExhausted)
          << "byte " << i << " bit " << bit << ": " << StatusCodeName(code);
    }
  }
}

TEST(ImageDecodeTest, DamagedFilesFailCleanly) {
  for (const png_fixtures::Fixture& fixture : png_fixtures::All()) {
    SCOPED_TRACE(fixture.name);
    ExpectDamageFailsCleanly(std::string(View(fixture.png)), /*png=*/true);
  }
  std::vector<uint8_t> ramp(16 * 16 * 3);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<uint8_t>(i * 7);
  ExpectDamageFailsCleanly(EncodeJpeg(ramp, 16, 16, 3, JCS_RGB), /*png=*/false);
}

// Real-world images, where the shared test data has any.
TEST(ImageDecodeTest, SharedTestDataImagesDecode) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(SHARDTRAIN_SHARED_DIR) / "testdata";
  std::error_code error;
  int decoded = 0;
  for (auto it = fs::recursive_directory_iterator(root, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    const std::string ext = it->path().extension().string();
    const bool png = ext == ".png" || ext == ".PNG";
    const bool jpeg = ext == ".jpg" || ext == ".jpeg" || ext == ".JPG" || ext == ".JPEG";
    if (!it->is_regular_file() || !(png || jpeg)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const StatusOr<DecodedImage> image = png ? DecodePng(bytes) : DecodeJpeg(bytes);
    EXPECT_TRUE(image.ok()) << it->path() << ": " << image.status();
    ++decoded;
  }
  if (decoded == 0) GTEST_SKIP() << "no PNG or JPEG files under " << root;
}

}  // namespace
}  // namespace shardtrain::storage
