// Tests for worker/data/idx_reader: synthetic gzip and plain idx files, every
// error path, and (when installed) the real Fashion-MNIST labels.
#include "worker/data/idx_reader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/worker/idx_test_util.h"

namespace shardtrain::data {
namespace {

using testing::IdxImagesBytes;
using testing::IdxLabelsBytes;
using testing::TempDir;
using testing::WriteFile;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void ExpectError(const Status& status, StatusCode code, const std::string& needle1,
                 const std::string& needle2) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_NE(status.message().find(needle1), std::string::npos) << status;
  EXPECT_NE(status.message().find(needle2), std::string::npos) << status;
}

TEST(IdxReaderTest, ReadsGzipImagesAndLabels) {
  TempDir dir;
  const std::vector<uint8_t> pixels = testing::SyntheticPixels(10, 28, 28);
  WriteFile(dir.File("img.gz"), IdxImagesBytes(10, 28, 28, pixels));
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes({9, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  auto images = ReadIdxImages(dir.File("img.gz"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->count, 10);
  EXPECT_EQ(images->rows, 28);
  EXPECT_EQ(images->cols, 28);
  EXPECT_EQ(images->pixels, pixels);
  EXPECT_EQ(images->pixels[3 * 784 + 5 * 28 + 7], testing::SyntheticPixel(3, 5, 7));
  auto labels = ReadIdxLabels(dir.File("lab.gz"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (std::vector<uint8_t>{9, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(IdxReaderTest, ReadsUncompressedFiles) {
  TempDir dir;
  WriteFile(dir.File("img"), IdxImagesBytes(2, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
            /*gzip=*/false);
  auto images = ReadIdxImages(dir.File("img"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->rows, 2);
  EXPECT_EQ(images->cols, 3);
  EXPECT_EQ(images->pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

TEST(IdxReaderTest, EmptyLabelsFile) {
  TempDir dir;
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes({}));
  auto labels = ReadIdxLabels(dir.File("lab.gz"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_TRUE(labels->empty());
}

TEST(IdxReaderTest, BadMagicNamesFileAndKind) {
  TempDir dir;
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes({1, 2}));
  WriteFile(dir.File("img.gz"), IdxImagesBytes(1, 1, 1, {7}));
  ExpectError(ReadIdxImages(dir.File("lab.gz")).status(), StatusCode::kInvalidArgument,
              dir.File("lab.gz"), "has magic 0x00000801 (an idx labels file); expected 0x00000803");
  ExpectError(ReadIdxLabels(dir.File("img.gz")).status(), StatusCode::kInvalidArgument,
              dir.File("img.gz"), "expected 0x00000801");
  WriteFile(dir.File("junk.gz"), "PK\x03\x04 this is not an idx file");
  ExpectError(ReadIdxLabels(dir.File("junk.gz")).status(), StatusCode::kInvalidArgument,
              dir.File("junk.gz"), "(not an idx file)");
}

TEST(IdxReaderTest, ShortFilesAreDataLoss) {
  TempDir dir;
  // Header declares 3 images of 2x2 but only 2.5 follow.
  WriteFile(dir.File("img.gz"), IdxImagesBytes(3, 2, 2, std::vector<uint8_t>(10, 1)));
  ExpectError(ReadIdxImages(dir.File("img.gz")).status(), StatusCode::kDataLoss, dir.File("img.gz"),
              "declares 12 bytes of pixels (3 images of 2x2) but only 10");
  // Header itself cut short.
  WriteFile(dir.File("hdr.gz"), std::string("\0\0\x08\x03\0\0", 6));
  ExpectError(ReadIdxImages(dir.File("hdr.gz")).status(), StatusCode::kDataLoss, dir.File("hdr.gz"),
              "ends after 2 of the 12 bytes of its 16-byte idx images header");
  std::string labels = IdxLabelsBytes({1, 2, 3});
  labels.pop_back();
  WriteFile(dir.File("lab.gz"), labels);
  ExpectError(ReadIdxLabels(dir.File("lab.gz")).status(), StatusCode::kDataLoss, dir.File("lab.gz"),
              "is too short");
}

// Found by fuzz/idx_fuzzer.cc: a 12-byte file declaring 2^32-1 labels made the
// reader allocate (and zero) 64 MiB before reading; growth now starts at 1 MiB.
TEST(IdxReaderTest, HugeDeclaredCountIsDataLoss) {
  TempDir dir;
  std::string labels = IdxLabelsBytes({1, 2, 3, 4});
  labels.replace(4, 4, "\xff\xff\xff\xff");
  WriteFile(dir.File("lab"), labels);
  ExpectError(ReadIdxLabels(dir.File("lab")).status(), StatusCode::kDataLoss, dir.File("lab"),
              "declares 4294967295 bytes of labels but only 4 follow");
}

// A payload of several growth steps (1, 1, 2 MiB...) is read back whole.
TEST(IdxReaderTest, ReadsPayloadAcrossGrowthSteps) {
  TempDir dir;
  std::vector<uint8_t> pixels((size_t{5} << 20) + 7);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 31 + i / 4096);
  WriteFile(dir.File("img"), IdxImagesBytes(static_cast<uint32_t>(pixels.size()), 1, 1, pixels));
  auto images = ReadIdxImages(dir.File("img"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->pixels, pixels);
}

TEST(IdxReaderTest, CountMismatchWithTrailingDataIsDataLoss) {
  TempDir dir;
  std::string labels = IdxLabelsBytes({1, 2, 3});
  labels += "\x04\x05";
  WriteFile(dir.File("lab.gz"), labels);
  ExpectError(ReadIdxLabels(dir.File("lab.gz")).status(), StatusCode::kDataLoss, dir.File("lab.gz"),
              "has 2 bytes after the 3 bytes of labels");
}

TEST(IdxReaderTest, DamagedGzipIsDataLoss) {
  TempDir dir;
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes(std::vector<uint8_t>(5000, 3)));
  std::string bytes;
  {
    std::ifstream in(dir.File("lab.gz"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 30u);
  bytes.resize(bytes.size() / 2);  // cut the deflate stream
  WriteFile(dir.File("cut.gz"), bytes, /*gzip=*/false);
  const Status status = ReadIdxLabels(dir.File("cut.gz")).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(dir.File("cut.gz")), std::string::npos) << status;
}

// IdxSource::Inflate maps storage::InflateStream's damage to messages naming
// the file: a cut stream is truncated, flipped deflate bytes are damaged.
TEST(IdxReaderTest, GzipDamageKindsNameTheFileAndTheCause) {
  TempDir dir;
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes(std::vector<uint8_t>(5000, 3)));
  const std::string bytes = ReadAll(dir.File("lab.gz"));
  WriteFile(dir.File("cut.gz"), bytes.substr(0, bytes.size() / 2), /*gzip=*/false);
  ExpectError(ReadIdxLabels(dir.File("cut.gz")).status(), StatusCode::kDataLoss,
              "cannot decompress '" + dir.File("cut.gz") + "'", "the file is truncated");
  std::string flipped = bytes;
  for (size_t i = 10; i < 20; ++i) flipped[i] = static_cast<char>(0xff);
  WriteFile(dir.File("bad.gz"), flipped, /*gzip=*/false);
  ExpectError(ReadIdxLabels(dir.File("bad.gz")).status(), StatusCode::kDataLoss,
              "cannot decompress '" + dir.File("bad.gz") + "'", "the file is damaged");
}

// The probe of issue 24: bytes after the gzip data (not another gzip member)
// were ignored by zlib's gz* reader.
TEST(IdxReaderTest, GarbageAfterGzipDataIsDataLossWithByteCount) {
  TempDir dir;
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes({1, 2, 3}));
  std::string bytes = ReadAll(dir.File("lab.gz"));
  WriteFile(dir.File("lab.gz"), bytes + "garbage", /*gzip=*/false);
  ExpectError(ReadIdxLabels(dir.File("lab.gz")).status(), StatusCode::kDataLoss, dir.File("lab.gz"),
              "has 7 bytes of trailing garbage after its gzip data");
  // One byte is enough; a gzip member's first magic byte alone is garbage too.
  WriteFile(dir.File("one.gz"), bytes + "\x1f", /*gzip=*/false);
  ExpectError(ReadIdxLabels(dir.File("one.gz")).status(), StatusCode::kDataLoss, dir.File("one.gz"),
              "has 1 bytes of trailing garbage");
}

// Concatenated gzip members (gzip -c a b) are one valid stream.
TEST(IdxReaderTest, ReadsConcatenatedGzipMembers) {
  TempDir dir;
  const std::string whole = IdxLabelsBytes({4, 5, 6, 7});
  WriteFile(dir.File("a.gz"), whole.substr(0, 5));
  WriteFile(dir.File("b.gz"), whole.substr(5));
  WriteFile(dir.File("lab.gz"), ReadAll(dir.File("a.gz")) + ReadAll(dir.File("b.gz")),
            /*gzip=*/false);
  auto labels = ReadIdxLabels(dir.File("lab.gz"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(*labels, (std::vector<uint8_t>{4, 5, 6, 7}));
}

// The probe of issue 24: an uncompressed file named .gz was read as plain.
TEST(IdxReaderTest, UncompressedFileNamedGzIsDataLoss) {
  TempDir dir;
  WriteFile(dir.File("lab.gz"), IdxLabelsBytes({1, 2, 3}), /*gzip=*/false);
  ExpectError(ReadIdxLabels(dir.File("lab.gz")).status(), StatusCode::kDataLoss, dir.File("lab.gz"),
              "is named .gz but is not gzip-compressed");
  WriteFile(dir.File("empty.gz"), "", /*gzip=*/false);
  ExpectError(ReadIdxImages(dir.File("empty.gz")).status(), StatusCode::kDataLoss,
              dir.File("empty.gz"), "is not gzip-compressed");
  // Without the suffix the same bytes read as plain idx.
  WriteFile(dir.File("lab"), IdxLabelsBytes({1, 2, 3}), /*gzip=*/false);
  auto labels = ReadIdxLabels(dir.File("lab"));
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->size(), 3u);
}

TEST(IdxReaderTest, MissingFileIsNotFound) {
  TempDir dir;
  ExpectError(ReadIdxLabels(dir.File("absent.gz")).status(), StatusCode::kNotFound,
              dir.File("absent.gz"), "No such file");
}

// IdxSource::Open opens through OpenRegularFileForReading: a FIFO is refused, not read.
TEST(IdxReaderTest, FifoIsInvalidArgumentWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo(dir.File("labels.gz").c_str(), 0600), 0);
  ExpectError(ReadIdxLabels(dir.File("labels.gz")).status(), StatusCode::kInvalidArgument,
              dir.File("labels.gz"), "FIFO");
}

TEST(IdxReaderTest, DirectoryIsInvalidArgument) {
  TempDir dir;
  std::filesystem::create_directory(dir.File("images"));
  ExpectError(ReadIdxImages(dir.File("images")).status(), StatusCode::kInvalidArgument,
              dir.File("images"), "directory");
}

TEST(IdxReaderTest, RealFashionMnistTrainLabels) {
  const std::string path = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << path << " is absent (install the Debian package dataset-fashion-mnist)";
  }
  auto labels = ReadIdxLabels(path);
  ASSERT_TRUE(labels.ok()) << labels.status();
  ASSERT_EQ(labels->size(), 60000u);
  std::array<int, 10> counts{};
  for (uint8_t label : *labels) {
    ASSERT_LT(label, 10);
    ++counts[label];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c], 6000) << "class " << c;
}

}  // namespace
}  // namespace shardtrain::data
