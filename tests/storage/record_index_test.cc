// Tests for storage/tfrecord/record_index.h and TfRecordReader::Seek / Skip:
// counts and offsets of files written by TfRecordWriter (NONE, GZIP, ZLIB),
// seeking to indexed records, skip/read sequences across buffer boundaries,
// and damaged files (bad length CRC, truncation) as DataLoss naming the record.
#include "storage/tfrecord/record_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/tfrecord/compressed_stream.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/storage/temp_files_test_util.h"

namespace shardtrain::storage {
namespace {

namespace fs = std::filesystem;
using C = TfRecordCompression;

using test_files::ReadBytes;
using test_files::TempDir;
using test_files::WriteBytes;

// 40 records of varied sizes, some larger than the small read buffers tested
// (64 bytes and 1000 bytes), some empty.
std::vector<std::string> SomeRecords() {
  std::mt19937 random(7);
  const size_t sizes[] = {0, 1, 50, 63, 64, 65, 300, 999, 1000, 1001, 5000, 20000};
  std::vector<std::string> records;
  for (int i = 0; i < 40; ++i) {
    std::string record(sizes[random() % std::size(sizes)], '\0');
    for (char& c : record) c = static_cast<char>(random());
    records.push_back(std::move(record));
  }
  return records;
}

void WriteRecords(const std::string& path, C compression, const std::vector<std::string>& records) {
  auto writer = TfRecordWriter::Open(path, compression);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const std::string& record : records) ASSERT_TRUE((*writer)->Write(record).ok());
  ASSERT_TRUE((*writer)->Close().ok());
}

TfRecordReaderOptions Options(C compression, size_t buffer_size = size_t{1} << 20) {
  TfRecordReaderOptions options;
  options.compression = compression;
  options.buffer_size = buffer_size;
  return options;
}

std::unique_ptr<TfRecordReader> OpenReader(const std::string& path, TfRecordReaderOptions options) {
  auto reader = TfRecordReader::Open(path, std::move(options));
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

// The offset of every record as a reader reports it before reading it.
std::vector<uint64_t> RecordOffsets(const std::string& path, C compression) {
  auto reader = OpenReader(path, Options(compression));
  std::vector<uint64_t> offsets;
  std::string record;
  while (true) {
    const uint64_t offset = reader->offset();
    auto more = reader->Next(&record);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    offsets.push_back(offset);
  }
  return offsets;
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

TEST(RecordIndexTest, CountsAndOffsetsForEveryCompression) {
  const std::vector<std::string> records = SomeRecords();
  TempDir dir;
  for (C compression : {C::kNone, C::kGzip, C::kZlib}) {
    const std::string path = dir.File("data");
    WriteRecords(path, compression, records);
    const std::vector<uint64_t> offsets = RecordOffsets(path, compression);
    ASSERT_EQ(offsets.size(), records.size());
    for (size_t buffer_size : {size_t{64}, size_t{1000}, size_t{1} << 20}) {
      for (int64_t every : {1, 3, 40, 1000}) {
        auto index = IndexTfRecordFile(path, every, Options(compression, buffer_size));
        ASSERT_TRUE(index.ok()) << index.status();
        EXPECT_EQ(index->records, 40);
        if (compression != C::kNone) {
          EXPECT_EQ(index->index_every, 0);
          EXPECT_TRUE(index->offsets.empty());
          continue;
        }
        EXPECT_EQ(index->index_every, every);
        std::vector<int64_t> expected;
        for (size_t i = 0; i < offsets.size(); i += every) expected.push_back(offsets[i]);
        EXPECT_EQ(index->offsets, expected) << "every " << every << " buffer " << buffer_size;
      }
    }
  }
}

TEST(RecordIndexTest, SeekToAnIndexedOffsetThenNextGivesThatRecord) {
  const std::vector<std::string> records = SomeRecords();
  TempDir dir;
  const std::string path = dir.File("data");
  WriteRecords(path, C::kNone, records);
  auto index = IndexTfRecordFile(path, 3);
  ASSERT_TRUE(index.ok()) << index.status();
  for (size_t buffer_size : {size_t{64}, size_t{1} << 20}) {
    std::vector<std::unique_ptr<TfRecordReader>> readers;
    readers.push_back(OpenReader(path, Options(C::kNone, buffer_size)));
    readers.push_back(TfRecordReader::FromString(ReadBytes(path), path));
    for (auto& reader : readers) {
      std::string record;
      // Backwards, so that seeks land both inside and outside the buffer.
      for (size_t i = index->offsets.size(); i-- > 0;) {
        const int64_t number = static_cast<int64_t>(i) * 3;
        ASSERT_TRUE(reader->Seek(index->offsets[i], number).ok());
        EXPECT_EQ(reader->records_read(), number);
        auto more = reader->Next(&record);
        ASSERT_TRUE(more.ok() && *more) << more.status();
        EXPECT_EQ(record, records[number]);
        EXPECT_EQ(reader->records_read(), number + 1);
      }
      // Read to the end, then seek back to the start.
      while (*reader->Next(&record)) {
      }
      ASSERT_TRUE(reader->Seek(0, 0).ok());
      ASSERT_TRUE(*reader->Next(&record));
      EXPECT_EQ(record, records[0]);
      // The end of the file is a valid position: no more records.
      ASSERT_TRUE(reader->Seek(fs::file_size(path), 40).ok());
      auto more = reader->Next(&record);
      ASSERT_TRUE(more.ok());
      EXPECT_FALSE(*more);
    }
  }
}

TEST(RecordIndexTest, SkipAndNextSequencesReadTheRightRecords) {
  const std::vector<std::string> records = SomeRecords();
  TempDir dir;
  for (C compression : {C::kNone, C::kGzip, C::kZlib}) {
    const std::string path = dir.File("data");
    WriteRecords(path, compression, records);
    for (size_t buffer_size : {size_t{64}, size_t{1000}, size_t{1} << 20}) {
      for (size_t period : {1, 2, 5}) {
        // Record i is skipped unless i % period == period - 1.
        std::vector<std::unique_ptr<TfRecordReader>> readers;
        readers.push_back(OpenReader(path, Options(compression, buffer_size)));
        readers.push_back(
            TfRecordReader::FromString(ReadBytes(path), path, Options(compression, buffer_size)));
        for (auto& reader : readers) {
          std::string record;
          for (size_t i = 0; i < records.size(); ++i) {
            if (i % period == period - 1) {
              auto more = reader->Next(&record);
              ASSERT_TRUE(more.ok() && *more) << more.status();
              EXPECT_EQ(record, records[i]) << "record " << i << " buffer " << buffer_size;
            } else {
              auto more = reader->Skip();
              ASSERT_TRUE(more.ok() && *more) << more.status();
            }
            EXPECT_EQ(reader->records_read(), static_cast<int64_t>(i + 1));
          }
          auto more = reader->Skip();
          ASSERT_TRUE(more.ok()) << more.status();
          EXPECT_FALSE(*more);
        }
      }
    }
  }
}

TEST(RecordIndexTest, SeekThenSkipReachesTheRecordsInBetween) {
  const std::vector<std::string> records = SomeRecords();
  TempDir dir;
  const std::string path = dir.File("data");
  WriteRecords(path, C::kNone, records);
  auto index = IndexTfRecordFile(path, 8);
  ASSERT_TRUE(index.ok()) << index.status();
  auto reader = OpenReader(path, Options(C::kNone, 1000));
  std::string record;
  for (int64_t target : {37, 5, 16, 23, 0}) {
    const int64_t indexed = target / 8;
    ASSERT_TRUE(reader->Seek(index->offsets[indexed], indexed * 8).ok());
    for (int64_t i = indexed * 8; i < target; ++i) ASSERT_TRUE(*reader->Skip());
    ASSERT_TRUE(*reader->Next(&record));
    EXPECT_EQ(record, records[target]) << "record " << target;
  }
}

TEST(RecordIndexTest, SeekErrors) {
  TempDir dir;
  const std::string path = dir.File("data");
  WriteRecords(path, C::kGzip, {"a", "b"});
  auto compressed = OpenReader(path, Options(C::kGzip));
  EXPECT_EQ(compressed->Seek(0, 0).code(), StatusCode::kFailedPrecondition);
  WriteRecords(path, C::kNone, {"a", "b"});
  auto reader = OpenReader(path, Options(C::kNone));
  const Status past_end = reader->Seek(fs::file_size(path) + 1, 2);
  EXPECT_EQ(past_end.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(past_end.message().find(path), std::string::npos) << past_end.message();
  EXPECT_EQ(reader->Seek(0, -1).code(), StatusCode::kInvalidArgument);
  // An offset that is not a record's start: the next read is DataLoss naming
  // the record number and offset the caller gave.
  ASSERT_TRUE(reader->Seek(3, 7).ok());
  std::string record;
  const Status status = reader->Next(&record).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_TRUE(StartsWith(status.message(), "corrupted record 7 at byte offset 3 in '" + path + "'"))
      << status.message();
  // Sticky, Seek included.
  EXPECT_EQ(reader->Seek(0, 0), status);
}

TEST(RecordIndexTest, BadLengthCrcIsDataLossNamingFileAndRecord) {
  const std::vector<std::string> records = SomeRecords();
  TempDir dir;
  const std::string path = dir.File("data");
  WriteRecords(path, C::kNone, records);
  const std::vector<uint64_t> offsets = RecordOffsets(path, C::kNone);
  std::string bytes = ReadBytes(path);
  for (size_t damaged : {size_t{0}, size_t{17}, size_t{39}}) {
    std::string bad = bytes;
    bad[offsets[damaged] + 9] ^= 0x10;  // a length CRC byte
    WriteBytes(path, bad);
    for (size_t buffer_size : {size_t{64}, size_t{1} << 20}) {
      auto index = IndexTfRecordFile(path, 4, Options(C::kNone, buffer_size));
      ASSERT_EQ(index.status().code(), StatusCode::kDataLoss);
      const std::string expected = "corrupted record " + std::to_string(damaged) +
                                   " at byte offset " + std::to_string(offsets[damaged]) + " in '" +
                                   path + "': length CRC mismatch";
      EXPECT_TRUE(StartsWith(index.status().message(), expected)) << index.status().message();
      EXPECT_NE(index.status().message().find("re-create it"), std::string::npos);
    }
  }
  // A bad data CRC is not the index's business (the reader's Next catches it).
  std::string bad = bytes;
  bad[offsets[17] + 12] ^= 0x10;
  WriteBytes(path, bad);
  auto index = IndexTfRecordFile(path, 4);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->records, 40);
}

TEST(RecordIndexTest, TruncationIsDataLossNamingFileAndRecord) {
  const std::vector<std::string> records = {"first", std::string(3000, 'x'), "last record"};
  TempDir dir;
  const std::string whole = dir.File("whole");
  WriteRecords(whole, C::kNone, records);
  const std::string bytes = ReadBytes(whole);
  const std::vector<uint64_t> offsets = RecordOffsets(whole, C::kNone);
  const std::string path = dir.File("cut");
  for (size_t last : {size_t{1}, size_t{2}}) {
    const size_t end = last == 2 ? bytes.size() : offsets[2];
    for (size_t cut = offsets[last] + 1; cut < end; cut += 23) {
      WriteBytes(path, bytes.substr(0, cut));
      for (size_t buffer_size : {size_t{64}, size_t{1} << 20}) {
        auto index = IndexTfRecordFile(path, 1, Options(C::kNone, buffer_size));
        ASSERT_EQ(index.status().code(), StatusCode::kDataLoss) << "cut " << cut;
        const std::string expected = "truncated record " + std::to_string(last) +
                                     " at byte offset " + std::to_string(offsets[last]) + " in '" +
                                     path + "'";
        EXPECT_TRUE(StartsWith(index.status().message(), expected)) << index.status().message();
      }
    }
  }
  // A compressed stream cut short, and one whose records end mid-record.
  for (C compression : {C::kGzip, C::kZlib}) {
    WriteRecords(whole, compression, records);
    const std::string compressed = ReadBytes(whole);
    WriteBytes(path, compressed.substr(0, compressed.size() - 6));
    auto index = IndexTfRecordFile(path, 1, Options(compression));
    EXPECT_EQ(index.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(index.status().message().find(path), std::string::npos) << index.status().message();
    auto deflate = DeflateStream::Create(compression);
    ASSERT_TRUE(deflate.ok());
    std::string cut_stream;
    const std::string cut_records = bytes.substr(0, offsets[1] + 100);
    ASSERT_TRUE((*deflate)->Compress(cut_records, DeflateStream::Flush::kFinish, &cut_stream).ok());
    WriteBytes(path, cut_stream);
    for (size_t buffer_size : {size_t{64}, size_t{1} << 20}) {
      index = IndexTfRecordFile(path, 1, Options(compression, buffer_size));
      ASSERT_EQ(index.status().code(), StatusCode::kDataLoss);
      const std::string expected =
          "truncated record 1 at byte offset " + std::to_string(offsets[1]) + " in '" + path + "'";
      EXPECT_TRUE(StartsWith(index.status().message(), expected)) << index.status().message();
    }
  }
}

TEST(RecordIndexTest, EmptyFilesHaveNoRecords) {
  TempDir dir;
  for (C compression : {C::kNone, C::kGzip, C::kZlib}) {
    WriteBytes(dir.File("zero"), "");
    WriteRecords(dir.File("none"), compression, {});
    for (const char* name : {"zero", "none"}) {
      auto index = IndexTfRecordFile(dir.File(name), 10, Options(compression));
      ASSERT_TRUE(index.ok()) << index.status();
      EXPECT_EQ(index->records, 0);
      EXPECT_TRUE(index->offsets.empty());
    }
  }
}

TEST(RecordIndexTest, ArgumentAndFileErrors) {
  TempDir dir;
  const std::string path = dir.File("data");
  WriteRecords(path, C::kNone, {"a"});
  for (int64_t every : {0, -1}) {
    EXPECT_EQ(IndexTfRecordFile(path, every).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(IndexTfRecordFile(dir.File("missing"), 1).status().code(), StatusCode::kNotFound);
  // A gzip file indexed as uncompressed hints at the setting.
  WriteRecords(path, C::kGzip, {"a", "b"});
  auto index = IndexTfRecordFile(path, 1);
  ASSERT_EQ(index.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(index.status().message().find("set data.compression: GZIP"), std::string::npos)
      << index.status().message();
}

}  // namespace
}  // namespace shardtrain::storage
