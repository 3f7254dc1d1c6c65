// Tests for storage/tfrecord: exact bytes against the spec, a hand-built file,
// round trips (whole-file and streaming), byte flips and truncations, and only
// regular files opened (compressed files: tfrecord_compression_test.cc).
#include "storage/tfrecord/tfrecord.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "storage/io/crc32c.h"
#include "storage/io/file_system.h"
#include "storage/tfrecord/tfrecord_format.h"
#include "tests/storage/temp_files_test_util.h"

namespace shardtrain::storage {
namespace {

namespace fs = std::filesystem;

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Bit-at-a-time CRC-32C and TF masking, written from the spec in the test so
// the framing is checked independently of the library's CRC code.
uint32_t ReferenceMaskedCrc(const std::string& bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    c ^= byte;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
  }
  c ^= 0xFFFFFFFFu;
  return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

std::string Le32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

using test_files::ReadBytes;
using test_files::TempDir;
using test_files::WriteBytes;

// Reads all records; returns the records read before the first error and that error.
Status ReadAll(TfRecordReader* reader, std::vector<std::string>* records) {
  std::string record;
  while (true) {
    StatusOr<bool> more = reader->Next(&record);
    if (!more.ok()) return more.status();
    if (!*more) return OkStatus();
    records->push_back(record);
  }
}

TEST(TfRecordTest, WriterProducesSpecBytesForThreeByteRecord) {
  TempDir dir;
  const std::string path = dir.File("abc.tfrecord");
  auto writer = TfRecordWriter::Open(path);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Write("abc").ok());
  EXPECT_EQ((*writer)->records_written(), 1);
  EXPECT_EQ((*writer)->bytes_written(), 19u);
  ASSERT_TRUE((*writer)->Close().ok());

  const std::string bytes = ReadBytes(path);
  // Hand framing: length 3 as uint64 LE, masked CRC of those 8 bytes, data,
  // masked CRC of the data — each CRC from the test's own reference code.
  const std::string length_bytes("\x03\0\0\0\0\0\0\0", 8);
  const std::string expected = length_bytes + Le32(ReferenceMaskedCrc(length_bytes)) + "abc" +
                               Le32(ReferenceMaskedCrc("abc"));
  EXPECT_EQ(bytes, expected);
  // ... and the literal bytes documented in tfrecord_format.h.
  EXPECT_EQ(bytes, FromHex("0300000000000000b099490e6162636e57f121"));
  // crc32c("abc") = 0x364B3FB7 (published), masked = 0x21F1576E -> LE 6e 57 f1 21.
  EXPECT_EQ(Crc32cMask(0x364B3FB7u), 0x21F1576Eu);

  std::string appended;
  AppendTfRecord("abc", &appended);
  EXPECT_EQ(appended, expected);
}

TEST(TfRecordTest, ReadsHandBuiltFile) {
  // Three records "hello", "", "tfrecord!" framed by hand (Python, bitwise CRC-32C).
  const std::string bytes = FromHex(
      "0500000000000000eab2043e68656c6c6fbb1f1c19"
      "000000000000000029039807d8ea82a2"
      "090000000000000037f9713974667265636f726421402b9eec");
  TempDir dir;
  const std::string path = dir.File("hand.tfrecord");
  WriteBytes(path, bytes);
  auto records = ReadTfRecordFile(path);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(*records, (std::vector<std::string>{"hello", "", "tfrecord!"}));

  auto reader = TfRecordReader::FromString(bytes, "memory");
  std::string_view view;
  auto more = reader->NextView(&view);
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_EQ(view, "hello");
  EXPECT_EQ(reader->records_read(), 1);
  EXPECT_EQ(reader->offset(), 21u);
}

TEST(TfRecordTest, RoundTripWholeFileAndStreaming) {
  std::mt19937 rng(3);
  std::vector<std::string> records;
  for (int i = 0; i < 200; ++i) {
    const size_t size = (i % 17 == 0) ? 200000 + i : rng() % 3000;
    std::string r(size, '\0');
    for (auto& c : r) c = static_cast<char>(rng());
    records.push_back(std::move(r));
  }
  records.push_back("");
  TempDir dir;
  const std::string path = dir.File("many.tfrecord");
  {
    auto writer = TfRecordWriter::Open(path);
    ASSERT_TRUE(writer.ok());
    for (const auto& r : records) ASSERT_TRUE((*writer)->Write(r).ok());
    ASSERT_TRUE((*writer)->Close().ok());
    EXPECT_TRUE((*writer)->Close().ok());  // second Close returns the first result
    EXPECT_EQ((*writer)->Write("x").code(), StatusCode::kFailedPrecondition);
  }
  for (size_t buffer_size : {size_t{64}, size_t{4096}, size_t{1} << 26}) {
    TfRecordReaderOptions options;
    options.buffer_size = buffer_size;
    auto read = ReadTfRecordFile(path, options);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, records) << "buffer " << buffer_size;
  }
}

TEST(TfRecordTest, FlushMakesRecordsVisibleAndDestructorFlushes) {
  TempDir dir;
  const std::string path = dir.File("flush.tfrecord");
  {
    auto writer = TfRecordWriter::Open(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("one").ok());
    ASSERT_TRUE((*writer)->Flush().ok());
    auto read = ReadTfRecordFile(path);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, std::vector<std::string>{"one"});
    ASSERT_TRUE((*writer)->Write("two").ok());
  }  // no Close: the destructor flushes
  auto read = ReadTfRecordFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, (std::vector<std::string>{"one", "two"}));
}

TEST(TfRecordTest, EmptyFileHasNoRecords) {
  TempDir dir;
  const std::string path = dir.File("empty.tfrecord");
  WriteBytes(path, "");
  auto read = ReadTfRecordFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

TEST(TfRecordTest, OpenErrors) {
  TempDir dir;
  auto missing = ReadTfRecordFile(dir.File("nope.tfrecord"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.tfrecord"), std::string::npos);
  auto writer = TfRecordWriter::Open(dir.File("no/such/dir/x.tfrecord"));
  EXPECT_EQ(writer.status().code(), StatusCode::kNotFound);
  EXPECT_NE(writer.status().message().find("no/such/dir/x.tfrecord"), std::string::npos);
}

TEST(TfRecordTest, OpenRefusesFifosDirectoriesAndDevicesWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.File("train-00000-of-00001.tfrecord");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  auto reader = TfRecordReader::Open(fifo);  // no writer: a blocking open would never return
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.status().message(), "'" + fifo + "' is a FIFO (named pipe), not a regular file");
  auto file = PosixFileSystem()->NewRandomAccessFile(fifo);
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));

  const std::string sub = dir.File("sub");
  fs::create_directory(sub);
  reader = TfRecordReader::Open(sub);
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.status().message(), "'" + sub + "' is a directory, not a regular file");
  reader = TfRecordReader::Open("/dev/null");
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader.status().message(), "'/dev/null' is a character device, not a regular file");
  EXPECT_EQ(PosixFileSystem()->NewRandomAccessFile("/dev/null").status().code(),
            StatusCode::kInvalidArgument);
}

// Three records; returns the file and the start offset of each record.
std::string ThreeRecords(std::vector<size_t>* starts) {
  std::string file;
  for (const std::string r : {"first", "second record", "third!"}) {
    starts->push_back(file.size());
    AppendTfRecord(r, &file);
  }
  return file;
}

TEST(TfRecordTest, EveryByteFlipIsDataLossNamingTheRecord) {
  std::vector<size_t> starts;
  const std::string good = ThreeRecords(&starts);
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (int bit : {0, 7}) {
      std::string bad = good;
      bad[pos] = static_cast<char>(bad[pos] ^ (1 << bit));
      const size_t record =
          std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin() - 1;
      auto reader = TfRecordReader::FromString(bad, "/x/train-00000-of-00004.tfrecord");
      std::vector<std::string> records;
      const Status status = ReadAll(reader.get(), &records);
      ASSERT_EQ(status.code(), StatusCode::kDataLoss) << "byte " << pos << " bit " << bit;
      EXPECT_EQ(records.size(), record) << "byte " << pos;
      const std::string& message = status.message();
      const std::string expected_prefix = "corrupted record " + std::to_string(record) +
                                          " at byte offset " + std::to_string(starts[record]) +
                                          " in '/x/train-00000-of-00004.tfrecord': ";
      EXPECT_EQ(message.substr(0, expected_prefix.size()), expected_prefix) << message;
      const size_t in_record = pos - starts[record];
      const char* which =
          in_record < tfrecord_format::kHeaderSize ? "length CRC mismatch" : "data CRC mismatch";
      EXPECT_NE(message.find(which), std::string::npos) << "byte " << pos << ": " << message;
      // The error is sticky.
      std::string ignored;
      EXPECT_EQ(reader->Next(&ignored).status(), status);
    }
  }
}

TEST(TfRecordTest, TruncationAtEveryByteOfLastRecordIsDataLoss) {
  std::vector<size_t> starts;
  const std::string good = ThreeRecords(&starts);
  TempDir dir;
  const std::string path = dir.File("cut.tfrecord");
  for (size_t cut = starts[2]; cut < good.size(); ++cut) {
    WriteBytes(path, good.substr(0, cut));
    for (bool from_disk : {false, true}) {
      std::unique_ptr<TfRecordReader> reader;
      if (from_disk) {
        TfRecordReaderOptions options;
        options.buffer_size = 8;  // also exercise refills across the cut
        auto opened = TfRecordReader::Open(path, options);
        ASSERT_TRUE(opened.ok());
        reader = std::move(*opened);
      } else {
        reader = TfRecordReader::FromString(good.substr(0, cut), path);
      }
      std::vector<std::string> records;
      const Status status = ReadAll(reader.get(), &records);
      EXPECT_EQ(records.size(), 2u) << "cut " << cut;
      if (cut == starts[2]) {
        EXPECT_TRUE(status.ok()) << "a cut between records is a shorter, valid file";
        continue;
      }
      ASSERT_EQ(status.code(), StatusCode::kDataLoss) << "cut " << cut;
      const std::string expected_prefix =
          "truncated record 2 at byte offset " + std::to_string(starts[2]) + " in '" + path + "'";
      EXPECT_EQ(status.message().substr(0, expected_prefix.size()), expected_prefix)
          << status.message();
      EXPECT_NE(status.message().find("the file is truncated"), std::string::npos);
      EXPECT_NE(status.message().find("writer crashed"), std::string::npos);
    }
  }
}

TEST(TfRecordTest, DamageHintIsConfigurable) {
  std::vector<size_t> starts;
  std::string bad = ThreeRecords(&starts);
  bad[starts[1] + 13] ^= 1;
  TfRecordReaderOptions options;
  options.damage_hint = "re-create it with `shardtrain data prepare`";
  auto reader = TfRecordReader::FromString(bad, "f", options);
  std::vector<std::string> records;
  const Status status = ReadAll(reader.get(), &records);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("data CRC mismatch (stored 0x"), std::string::npos);
  EXPECT_NE(status.message().find("; re-create it with `shardtrain data prepare`"),
            std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace shardtrain::storage
