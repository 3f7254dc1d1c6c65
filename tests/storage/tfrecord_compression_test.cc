// Tests for GZIP/ZLIB TFRecord files (storage/tfrecord/compression.h,
// compressed_stream.h): round trips through our writer and reader at several
// buffer sizes, files made by other tools (the gzip command, python3's zlib)
// read back, our files decompressed by those tools, and every defect: not a
// stream, the wrong setting, truncation, corruption, trailing data; and
// memory bounded by the buffers, not the file.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "storage/io/crc32c.h"
#include "storage/tfrecord/compressed_stream.h"
#include "storage/tfrecord/compression.h"
#include "storage/tfrecord/tfrecord.h"
#include "storage/tfrecord/tfrecord_format.h"
#include "tests/storage/temp_files_test_util.h"

namespace shardtrain::storage {
namespace {

namespace fs = std::filesystem;
namespace fmt = tfrecord_format;
using C = TfRecordCompression;

using test_files::ReadBytes;
using test_files::TempDir;
using test_files::WriteBytes;

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

bool HaveCommand(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// Records read before the first error, and that error (OK at a clean end).
Status ReadAll(TfRecordReader* reader, std::vector<std::string>* records) {
  std::string record;
  while (true) {
    StatusOr<bool> more = reader->Next(&record);
    if (!more.ok()) return more.status();
    if (!*more) return OkStatus();
    records->push_back(record);
  }
}

StatusOr<std::vector<std::string>> ReadFile(const std::string& path, C compression,
                                            size_t buffer_size = size_t{1} << 20) {
  TfRecordReaderOptions options;
  options.compression = compression;
  options.buffer_size = buffer_size;
  return ReadTfRecordFile(path, options);
}

Status ReadString(const std::string& bytes, C compression, std::vector<std::string>* records,
                  const std::string& name = "mem.tfrecord") {
  TfRecordReaderOptions options;
  options.compression = compression;
  options.buffer_size = 64;
  auto reader = TfRecordReader::FromString(bytes, name, options);
  return ReadAll(reader.get(), records);
}

void WriteRecords(const std::string& path, C compression, const std::vector<std::string>& records) {
  auto writer = TfRecordWriter::Open(path, compression);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const auto& r : records) ASSERT_TRUE((*writer)->Write(r).ok());
  ASSERT_TRUE((*writer)->Close().ok());
}

// Random (incompressible) records of the given sizes.
std::vector<std::string> RandomRecords(const std::vector<size_t>& sizes, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> records;
  for (size_t size : sizes) {
    std::string r(size, '\0');
    for (auto& c : r) c = static_cast<char>(rng());
    records.push_back(std::move(r));
  }
  return records;
}

std::string Framed(const std::vector<std::string>& records) {
  std::string bytes;
  for (const auto& r : records) AppendTfRecord(r, &bytes);
  return bytes;
}

// Three records "hello", "", "tfrecord!" (the hand-built file of tfrecord_test.cc).
const std::vector<std::string> kHello = {"hello", "", "tfrecord!"};

bool Contains(const Status& status, const std::string& text) {
  return status.message().find(text) != std::string::npos;
}

TEST(TfRecordCompressionTest, RoundTripsEveryCompressionAndBufferSize) {
  std::vector<std::string> records = RandomRecords({0, 1, 3000, 200000, 77}, 5);
  for (int i = 0; i < 300; ++i)
    records.push_back(std::string(i % 50, static_cast<char>('a' + i % 26)));
  TempDir dir;
  for (C compression : {C::kNone, C::kGzip, C::kZlib}) {
    const std::string path = dir.File("round." + std::string(TfRecordCompressionName(compression)));
    WriteRecords(path, compression, records);
    for (size_t buffer_size : {size_t{64}, size_t{1000}, size_t{1} << 20}) {
      auto read = ReadFile(path, compression, buffer_size);
      ASSERT_TRUE(read.ok()) << read.status();
      EXPECT_EQ(*read, records) << TfRecordCompressionName(compression) << " " << buffer_size;
    }
    std::vector<std::string> from_memory;
    EXPECT_TRUE(ReadString(ReadBytes(path), compression, &from_memory).ok());
    EXPECT_EQ(from_memory, records);
  }
  // NONE keeps today's bytes exactly; the compressed files are smaller.
  EXPECT_EQ(ReadBytes(dir.File("round.NONE")), Framed(records));
  EXPECT_LT(fs::file_size(dir.File("round.GZIP")), fs::file_size(dir.File("round.NONE")));
  EXPECT_EQ(ReadBytes(dir.File("round.GZIP")).substr(0, 2), "\x1f\x8b");
}

TEST(TfRecordCompressionTest, RecordsSpanInflateBufferBoundaries) {
  // Records larger than the 64-byte buffers, compressible and not.
  std::vector<std::string> records = RandomRecords({65, 127, 129, 1000, 5000}, 9);
  records.push_back(std::string(10000, 'z'));
  records.push_back("");
  TempDir dir;
  for (C compression : {C::kGzip, C::kZlib}) {
    const std::string path = dir.File("span");
    WriteRecords(path, compression, records);
    auto read = ReadFile(path, compression, 64);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(*read, records);
  }
}

TEST(TfRecordCompressionTest, EmptyFilesHaveNoRecords) {
  TempDir dir;
  for (C compression : {C::kNone, C::kGzip, C::kZlib}) {
    WriteBytes(dir.File("zero"), "");  // zero bytes: no records, as TensorFlow reads it
    auto read = ReadFile(dir.File("zero"), compression);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(read->empty());
    WriteRecords(dir.File("none"), compression, {});  // a stream holding no records
    read = ReadFile(dir.File("none"), compression);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(read->empty());
  }
}

TEST(TfRecordCompressionTest, ReadsFilesCompressedByTheGzipCommand) {
  if (!HaveCommand("gzip")) GTEST_SKIP() << "no gzip command";
  TempDir dir;
  const std::vector<std::string> more = RandomRecords({100, 70000}, 1);
  WriteBytes(dir.File("a"), Framed(kHello));
  WriteBytes(dir.File("b"), Framed(more));
  ASSERT_EQ(std::system(("gzip -c " + dir.File("a") + " > " + dir.File("a.gz")).c_str()), 0);
  ASSERT_EQ(std::system(("gzip -9 -c " + dir.File("b") + " > " + dir.File("b.gz")).c_str()), 0);
  auto read = ReadFile(dir.File("a.gz"), C::kGzip, 64);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, kHello);
  // Concatenated gzip members are one file's records, as gzip -d and TensorFlow read them.
  WriteBytes(dir.File("ab.gz"), ReadBytes(dir.File("a.gz")) + ReadBytes(dir.File("b.gz")));
  read = ReadFile(dir.File("ab.gz"), C::kGzip, 64);
  ASSERT_TRUE(read.ok()) << read.status();
  std::vector<std::string> both = kHello;
  both.insert(both.end(), more.begin(), more.end());
  EXPECT_EQ(*read, both);
}

TEST(TfRecordCompressionTest, ReadsZlibStreamMadeByPython) {
  // python3: zlib.compress(<the three framed records>, 9).hex()
  const std::string zlib_bytes = FromHex(
      "78da63658080579b58ec32527372f277cbcb4842c518349967b0df78d5b48813ca37ff5968599256949a9c5f94a2"
      "e8a03def0d00a2bc100a");
  std::vector<std::string> records;
  const Status status = ReadString(zlib_bytes, C::kZlib, &records);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(records, kHello);
}

TEST(TfRecordCompressionTest, OurFilesDecompressWithGzipAndPython) {
  TempDir dir;
  const std::vector<std::string> records = RandomRecords({10, 40000, 0}, 4);
  WriteRecords(dir.File("ours.gz"), C::kGzip, records);
  WriteRecords(dir.File("ours.zz"), C::kZlib, records);
  if (HaveCommand("gzip")) {
    ASSERT_EQ(std::system(("gzip -dc " + dir.File("ours.gz") + " > " + dir.File("gz.out")).c_str()),
              0);
    EXPECT_EQ(ReadBytes(dir.File("gz.out")), Framed(records));
  }
  if (HaveCommand("python3")) {
    const std::string command =
        "python3 -c \"import sys, zlib; sys.stdout.buffer.write("
        "zlib.decompress(open(sys.argv[1], 'rb').read()))\" " +
        dir.File("ours.zz") + " > " + dir.File("zz.out");
    ASSERT_EQ(std::system(command.c_str()), 0);
    EXPECT_EQ(ReadBytes(dir.File("zz.out")), Framed(records));
  }
}

TEST(TfRecordCompressionTest, FlushedRecordsAreReadableAndTheDestructorEndsTheStream) {
  TempDir dir;
  const std::string path = dir.File("flush.gz");
  {
    auto writer = TfRecordWriter::Open(path, C::kGzip);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("one").ok());
    ASSERT_TRUE((*writer)->Flush().ok());
    // The stream is not ended yet: the flushed record, then truncation.
    TfRecordReaderOptions options;
    options.compression = C::kGzip;
    auto reader = TfRecordReader::Open(path, options);
    ASSERT_TRUE(reader.ok());
    std::vector<std::string> records;
    EXPECT_EQ(ReadAll(reader->get(), &records).code(), StatusCode::kDataLoss);
    EXPECT_EQ(records, std::vector<std::string>{"one"});
    ASSERT_TRUE((*writer)->Write("two").ok());
  }  // no Close: the destructor ends the stream
  auto read = ReadFile(path, C::kGzip);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, (std::vector<std::string>{"one", "two"}));
}

// TfRecordReader::NextView checks a compressed record's length against
// max_record_bytes before buffering it: a 20-byte gzip stream whose header
// claims 2^40 bytes (a gzip bomb's shape) is DataLoss at once.
TEST(TfRecordCompressionTest, RecordLongerThanMaxRecordBytesIsDataLoss) {
  std::string header(fmt::kHeaderSize, '\0');
  const uint64_t huge = uint64_t{1} << 40;
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>(huge >> (8 * i));
  const uint32_t crc = Crc32cMask(Crc32c(header.data(), fmt::kLengthSize));
  for (int i = 0; i < 4; ++i) header[8 + i] = static_cast<char>(crc >> (8 * i));
  auto deflate = DeflateStream::Create(C::kGzip);
  ASSERT_TRUE(deflate.ok()) << deflate.status();
  std::string gz;
  ASSERT_TRUE((*deflate)->Compress(header + "payload", DeflateStream::Flush::kFinish, &gz).ok());
  std::vector<std::string> records;
  Status bomb = ReadString(gz, C::kGzip, &records, "bomb.gz");
  EXPECT_EQ(bomb.code(), StatusCode::kDataLoss) << bomb;
  EXPECT_TRUE(Contains(bomb, "corrupted record 0 at byte offset 0 in 'bomb.gz'")) << bomb;
  EXPECT_TRUE(Contains(bomb, "record length 1099511627776 exceeds the maximum record size of "
                             "2147483647 bytes"))
      << bomb;

  TfRecordReaderOptions options;
  options.compression = C::kGzip;
  options.max_record_bytes = 5;
  auto writer_bytes = DeflateStream::Create(C::kGzip);
  ASSERT_TRUE(writer_bytes.ok());
  std::string hello;
  ASSERT_TRUE(
      (*writer_bytes)->Compress(Framed(kHello), DeflateStream::Flush::kFinish, &hello).ok());
  auto reader = TfRecordReader::FromString(hello, "hello.gz", options);
  Status limited = ReadAll(reader.get(), &records);
  EXPECT_EQ(limited.code(), StatusCode::kDataLoss) << limited;
  EXPECT_TRUE(Contains(limited, "corrupted record 2 at byte offset 37 in 'hello.gz': record "
                                "length 9 exceeds the maximum record size of 5 bytes"))
      << limited;
  EXPECT_EQ(records, (std::vector<std::string>{"hello", ""}));
}

TEST(TfRecordCompressionTest, WrongSettingIsDataLossWithAHint) {
  TempDir dir;
  WriteRecords(dir.File("plain"), C::kNone, kHello);
  WriteRecords(dir.File("gz"), C::kGzip, kHello);
  WriteRecords(dir.File("zz"), C::kZlib, kHello);
  struct Case {
    std::string file;
    C read_as;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"plain", C::kGzip,
       "is not a gzip stream (it starts with 05 00 00 00 00 00 00 00); "
       "is data.compression right?; it looks uncompressed: "
       "set data.compression: NONE"},
      {"zz", C::kGzip, "is not a gzip stream (it starts with 78 9c"},
      {"gz", C::kZlib, "is not a zlib stream (it starts with 1f 8b 08"},
      {"gz", C::kNone, "is not an uncompressed TFRecord file (length CRC mismatch"},
      {"gz", C::kNone, "; it looks gzip-compressed: set data.compression: GZIP"},
      {"zz", C::kNone, "; it looks zlib-compressed: set data.compression: ZLIB"},
      {"zz", C::kGzip, "; it looks zlib-compressed: set data.compression: ZLIB"},
      {"plain", C::kZlib, "is not a zlib stream"},
  };
  for (const Case& c : cases) {
    const std::string path = dir.File(c.file);
    auto read = ReadFile(path, c.read_as);
    ASSERT_EQ(read.status().code(), StatusCode::kDataLoss) << c.file;
    EXPECT_TRUE(Contains(read.status(), "'" + path + "' ")) << read.status();
    EXPECT_TRUE(Contains(read.status(), c.says)) << read.status();
  }
  // The setting's name is the caller's.
  TfRecordReaderOptions options;
  options.compression = C::kGzip;
  options.compression_setting = "--compression";
  auto read = ReadTfRecordFile(dir.File("plain"), options);
  EXPECT_TRUE(Contains(read.status(),
                       "is --compression right?; it looks uncompressed: "
                       "set --compression: NONE"))
      << read.status();
}

TEST(TfRecordCompressionTest, GarbageIsNotAStream) {
  std::vector<std::string> records;
  Status status = ReadString("not compressed at all", C::kGzip, &records, "/d/x.tfrecord");
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "'/d/x.tfrecord' is not a gzip stream (it starts with 6e 6f 74 20 63 6f 6d 70); "
            "is data.compression right?");
  status = ReadString("\x1f", C::kGzip, &records);  // one byte of the magic
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(Contains(status,
                       "truncated record 0 at byte offset 0 in 'mem.tfrecord': the gzip "
                       "stream ends after 1 compressed byte"))
      << status;
}

TEST(TfRecordCompressionTest, TruncatedStreamIsDataLossNamingTheRecord) {
  // Incompressible records: compressed offsets track the record offsets.
  const std::vector<std::string> records = RandomRecords({2000, 2000, 2000}, 2);
  TempDir dir;
  for (C compression : {C::kGzip, C::kZlib}) {
    const std::string path = dir.File("cut");
    WriteRecords(path, compression, records);
    const std::string whole = ReadBytes(path);
    WriteBytes(path, whole.substr(0, whole.size() * 3 / 4));
    TfRecordReaderOptions options;
    options.compression = compression;
    options.buffer_size = 256;
    auto reader = TfRecordReader::Open(path, options);
    ASSERT_TRUE(reader.ok());
    std::vector<std::string> read;
    const Status status = ReadAll(reader->get(), &read);
    ASSERT_EQ(status.code(), StatusCode::kDataLoss);
    EXPECT_EQ(read.size(), 2u);
    EXPECT_EQ(status.message().substr(0, 50 + path.size()),
              "truncated record 2 at byte offset 4032 in '" + path + "': the ")
        << status;
    EXPECT_TRUE(Contains(status, "compressed bytes, before its end")) << status;
    EXPECT_TRUE(Contains(status, "the file is truncated")) << status;
  }
}

TEST(TfRecordCompressionTest, EveryCutIsDataLossOrAShorterPrefixNeverWrongData) {
  const std::string framed = Framed(kHello);
  TempDir dir;
  for (C compression : {C::kGzip, C::kZlib}) {
    WriteRecords(dir.File("f"), compression, kHello);
    const std::string whole = ReadBytes(dir.File("f"));
    for (size_t cut = 1; cut < whole.size(); ++cut) {
      std::vector<std::string> records;
      const Status status = ReadString(whole.substr(0, cut), compression, &records);
      EXPECT_EQ(status.code(), StatusCode::kDataLoss) << "cut " << cut;
      ASSERT_LE(records.size(), kHello.size());
      for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i], kHello[i]);
    }
  }
}

TEST(TfRecordCompressionTest, EveryByteFlipIsDataLossOrHarmless) {
  TempDir dir;
  for (C compression : {C::kGzip, C::kZlib}) {
    WriteRecords(dir.File("f"), compression, kHello);
    const std::string whole = ReadBytes(dir.File("f"));
    int errors = 0;
    for (size_t pos = 0; pos < whole.size(); ++pos) {
      std::string bad = whole;
      bad[pos] = static_cast<char>(bad[pos] ^ 0x10);
      std::vector<std::string> records;
      const Status status = ReadString(bad, compression, &records);
      // Header fields such as gzip's mtime, and padding bits, do not matter;
      // anything else must be an error, never different records.
      if (status.ok()) {
        EXPECT_EQ(records, kHello) << "byte " << pos;
      } else {
        EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
        ++errors;
      }
    }
    EXPECT_GT(errors, static_cast<int>(whole.size()) / 2);
  }
}

TEST(TfRecordCompressionTest, CorruptionInsideTheStreamNamesTheRecord) {
  const std::vector<std::string> records = RandomRecords(std::vector<size_t>(100, 1000), 3);
  TempDir dir;
  const std::string path = dir.File("mid.gz");
  WriteRecords(path, C::kGzip, records);
  std::string bytes = ReadBytes(path);
  bytes[bytes.size() / 2] ^= 1;  // random data is stored as is: a record's data changes
  WriteBytes(path, bytes);
  TfRecordReaderOptions options;
  options.compression = C::kGzip;
  options.buffer_size = 4096;
  auto reader = TfRecordReader::Open(path, options);
  ASSERT_TRUE(reader.ok());
  std::vector<std::string> read;
  const Status status = ReadAll(reader->get(), &read);
  ASSERT_EQ(status.code(), StatusCode::kDataLoss);
  ASSERT_GT(read.size(), 10u);
  ASSERT_LT(read.size(), 90u);
  const std::string prefix = "corrupted record " + std::to_string(read.size()) +
                             " at byte offset " + std::to_string(read.size() * 1016) + " in '" +
                             path + "': ";
  EXPECT_EQ(status.message().substr(0, prefix.size()), prefix) << status;
}

TEST(TfRecordCompressionTest, CorruptChecksumIsDataLoss) {
  TempDir dir;
  WriteRecords(dir.File("f"), C::kGzip, kHello);
  std::string bytes = ReadBytes(dir.File("f"));
  bytes[bytes.size() - 6] ^= 1;  // the gzip trailer's CRC-32
  std::vector<std::string> records;
  const Status status = ReadString(bytes, C::kGzip, &records);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_EQ(records, kHello);  // each record's own CRC passed; the stream's did not
  EXPECT_TRUE(Contains(status,
                       "corrupted record 3 at byte offset 62 in 'mem.tfrecord': the gzip "
                       "stream is corrupt near compressed byte"))
      << status;
  EXPECT_TRUE(Contains(status, "(incorrect data check)")) << status;
}

TEST(TfRecordCompressionTest, TrailingDataIsDataLoss) {
  TempDir dir;
  for (C compression : {C::kGzip, C::kZlib}) {
    WriteRecords(dir.File("f"), compression, kHello);
    const std::string whole = ReadBytes(dir.File("f"));
    for (const std::string& extra :
         {std::string("x"), std::string("\0\0\0\0", 4), std::string("\x1f\x8b", 2) + "junk"}) {
      WriteBytes(dir.File("g"), whole + extra);
      auto read = ReadFile(dir.File("g"), compression, 64);
      ASSERT_EQ(read.status().code(), StatusCode::kDataLoss);
      const std::string kind = compression == C::kGzip ? "gzip" : "zlib";
      if (compression == C::kGzip && extra[0] == '\x1f') {
        // A further member that is not a gzip stream.
        EXPECT_TRUE(Contains(read.status(), "corrupted record 3")) << read.status();
        continue;
      }
      EXPECT_TRUE(Contains(read.status(), "'" + dir.File("g") +
                                              "' has trailing data after its 3 "
                                              "records: data follows the end of the " +
                                              kind + " stream at compressed byte " +
                                              std::to_string(whole.size())))
          << read.status();
    }
  }
}

// Peak resident memory of this process so far, in bytes.
int64_t PeakRssBytes() {
  struct rusage usage;
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

TEST(TfRecordCompressionTest, ReadingDoesNotInflateTheWholeFile) {
  TempDir dir;
  const std::string path = dir.File("big.gz");
  const std::string record(size_t{1} << 20, '\0');  // 1 MiB of zeros compresses ~1000:1
  {
    auto writer = TfRecordWriter::Open(path, C::kGzip);
    ASSERT_TRUE(writer.ok());
    for (int i = 0; i < 96; ++i) ASSERT_TRUE((*writer)->Write(record).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  EXPECT_LT(fs::file_size(path), size_t{1} << 20);
  const int64_t before = PeakRssBytes();
  TfRecordReaderOptions options;
  options.compression = C::kGzip;
  options.buffer_size = size_t{64} << 10;
  auto reader = TfRecordReader::Open(path, options);
  ASSERT_TRUE(reader.ok());
  std::string_view view;
  int records = 0;
  while (true) {
    auto more = (*reader)->NextView(&view);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_EQ(view.size(), record.size());
    ++records;
  }
  EXPECT_EQ(records, 96);
  // 96 MiB decompressed through buffers of about one record.
  EXPECT_LT(PeakRssBytes() - before, int64_t{24} << 20);
}

TEST(TfRecordCompressionTest, ConfigMappingAndGuess) {
  EXPECT_EQ(*TfRecordCompressionFromConfig(config::NONE), C::kNone);
  EXPECT_EQ(*TfRecordCompressionFromConfig(config::GZIP), C::kGzip);
  EXPECT_EQ(*TfRecordCompressionFromConfig(config::ZLIB), C::kZlib);
  EXPECT_EQ(TfRecordCompressionFromConfig(static_cast<config::Compression>(7)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(TfRecordCompressionName(C::kGzip), "GZIP");
  EXPECT_EQ(GuessTfRecordCompression(Framed(kHello)), C::kNone);
  EXPECT_EQ(GuessTfRecordCompression(std::string("\x1f\x8b\x08\0", 4)), C::kGzip);
  EXPECT_EQ(GuessTfRecordCompression(FromHex("78da63658080579b")), C::kZlib);
  EXPECT_EQ(GuessTfRecordCompression("hello world!"), std::nullopt);
  EXPECT_EQ(GuessTfRecordCompression(""), std::nullopt);
}

TEST(TfRecordCompressionTest, InflateStreamReportsTheDamage) {
  std::string out(100, '\0');
  auto stream = InflateStream::FromString("plain text", C::kZlib);
  EXPECT_EQ(stream->Read(out.data(), out.size()).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(stream->damage(), StreamDamage::kNotAStream);
  EXPECT_EQ(stream->head(), "plain text");
  // Sticky.
  EXPECT_EQ(stream->Read(out.data(), out.size()).status().code(), StatusCode::kDataLoss);

  std::string compressed;
  auto deflate = DeflateStream::Create(C::kZlib);
  ASSERT_TRUE(deflate.ok());
  ASSERT_TRUE((*deflate)->Compress("abcdef", DeflateStream::Flush::kFinish, &compressed).ok());
  EXPECT_EQ((*deflate)->Compress("x", DeflateStream::Flush::kNone, &compressed).code(),
            StatusCode::kFailedPrecondition);
  stream = InflateStream::FromString(compressed.substr(0, compressed.size() - 1), C::kZlib);
  auto got = stream->Read(out.data(), out.size());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(out.substr(0, *got), "abcdef");  // the bytes before the defect come first
  EXPECT_EQ(stream->Read(out.data(), out.size()).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(stream->damage(), StreamDamage::kTruncated);
  EXPECT_EQ(stream->compressed_offset(), compressed.size() - 1);
}

}  // namespace
}  // namespace shardtrain::storage
