// Tests for data::ExampleStream: the emission order is ShuffleOrder replayed
// on the ranges' records, whatever the thread count, chunking or compression;
// a resumed stream (skip) is the uninterrupted stream's remainder; errors name
// the file and record and nothing after a bad record is delivered; closing a
// busy stream does not hang; the coordinator's stream plans read back as it
// computes them.
#include "worker/data/example_stream.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "coordinator/stream_plan.h"
#include "proto/tf/example.pb.h"
#include "storage/tfrecord/record_index.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"

namespace shardtrain::data {
namespace {

using testing::TempDir;

// Record `record` of file `file`: x = {file, record}, label = its id.
int32_t RecordLabel(int32_t file, int64_t record) {
  return static_cast<int32_t>(file * 1000 + record);
}

std::string RecordBytes(int32_t file, int64_t record) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  features["x"].mutable_float_list()->add_value(static_cast<float>(file));
  features["x"].mutable_float_list()->add_value(static_cast<float>(record));
  features["label"].mutable_int64_list()->add_value(RecordLabel(file, record));
  features["v"].mutable_float_list()->add_value(static_cast<float>(record) + 0.5f);
  return example.SerializeAsString();
}

// Features `x`; the label `label` as a class id, or `v` as a 1-value VECTOR.
ExampleDecoder Decoder(bool vector_label = false) {
  config::DataConfig data;
  if (vector_label) {
    data.mutable_label()->set_key("v");
    data.mutable_label()->set_kind(config::LabelSpec::VECTOR);
    data.mutable_label()->set_size(1);
  }
  config::FeatureSpec* x = data.add_features();
  x->set_key("x");
  x->set_type(config::FeatureSpec::FLOAT_LIST);
  x->add_shape(2);
  data.set_num_classes(100000);
  StatusOr<ExampleDecoder> decoder = ExampleDecoder::Create(data, {2});
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return std::move(decoder).value();
}

// Writes `records[f]` records per file (record bytes from RecordBytes unless
// `bytes` overrides them), indexing every `index_every`-th record.
class StreamFilesBuilder {
 public:
  StreamFilesBuilder(const TempDir& dir, config::Compression compression)
      : dir_(dir), compression_(compression) {}

  StreamFiles Write(const std::vector<int64_t>& records, int64_t index_every = 4,
                    const std::vector<std::vector<std::string>>& bytes = {}) {
    StreamFiles files;
    files.compression = compression_;
    const auto kind = compression_ == config::GZIP ? storage::TfRecordCompression::kGzip
                                                   : storage::TfRecordCompression::kNone;
    for (size_t f = 0; f < records.size(); ++f) {
      const std::string path = dir_.File("part-" + std::to_string(f) + ".tfrecord");
      auto writer = storage::TfRecordWriter::Open(path, kind);
      EXPECT_TRUE(writer.ok()) << writer.status();
      storage::RecordIndex index;
      index.records = records[f];
      if (compression_ == config::NONE) index.index_every = index_every;
      for (int64_t r = 0; r < records[f]; ++r) {
        if (index.index_every > 0 && r % index_every == 0) {
          index.offsets.push_back(static_cast<int64_t>((*writer)->bytes_written()));
        }
        const std::string record = f < bytes.size() && static_cast<size_t>(r) < bytes[f].size()
                                       ? bytes[f][static_cast<size_t>(r)]
                                       : RecordBytes(static_cast<int32_t>(f), r);
        EXPECT_TRUE((*writer)->Write(record).ok());
      }
      EXPECT_TRUE((*writer)->Close().ok());
      files.paths.push_back(path);
      files.indexes.push_back(index);
    }
    return files;
  }

 private:
  const TempDir& dir_;
  config::Compression compression_;
};

// The records a stream over `ranges` emits, computed from ShuffleOrder alone.
std::vector<RecordId> ExpectedOrder(const std::vector<RecordRange>& ranges,
                                    const StreamOptions& options) {
  std::vector<RecordId> input;
  for (const RecordRange& range : ranges) {
    for (int64_t i = 0; i < range.num_records; ++i) {
      input.push_back({range.file, range.first_record + i});
    }
  }
  ShuffleOrder order(options.seed, options.shuffle_key, options.shuffle_buffer,
                     static_cast<int64_t>(input.size()));
  std::vector<RecordId> emitted;
  for (ShuffleOrder::Draw draw = order.Next(); draw.slot >= 0; draw = order.Next()) {
    emitted.push_back(input[static_cast<size_t>(draw.position)]);
  }
  return emitted;
}

struct Drained {
  std::vector<RecordId> records;
  Status status;
};

// Reads `stream` to its end (or first error) `batch` rows at a time,
// checking that each row's label matches its features.
Drained Drain(ExampleStream* stream, int64_t batch = 5) {
  Drained drained;
  std::vector<float> x(static_cast<size_t>(batch) * 2);
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  while (true) {
    StatusOr<int64_t> rows = stream->Next(batch, x.data(), labels.data(), nullptr);
    if (!rows.ok()) {
      drained.status = rows.status();
      return drained;
    }
    for (size_t i = 0; i < static_cast<size_t>(*rows); ++i) {
      const RecordId id{static_cast<int32_t>(x[2 * i]), static_cast<int64_t>(x[2 * i + 1])};
      EXPECT_EQ(labels[i], RecordLabel(id.file, id.record));
      drained.records.push_back(id);
    }
    if (*rows < batch) return drained;
  }
}

std::unique_ptr<ExampleStream> MustOpen(const StreamFiles& files,
                                        const std::vector<RecordRange>& ranges,
                                        const StreamOptions& options) {
  StatusOr<std::unique_ptr<ExampleStream>> stream =
      ExampleStream::Open(files, ranges, Decoder(), options);
  EXPECT_TRUE(stream.ok()) << stream.status();
  return stream.ok() ? std::move(stream).value() : nullptr;
}

StreamOptions Options(int64_t buffer, int threads = 2, int64_t chunk = 3) {
  StreamOptions options;
  options.seed = 42;
  options.shuffle_key = StreamShuffleKey(1, 0, 1);
  options.shuffle_buffer = buffer;
  options.reader_threads = threads;
  options.chunk_records = chunk;
  options.prefetch_chunks = 2;
  return options;
}

// Ranges over three files of 10, 7 and 12 records, two starting mid-file,
// one empty, not in file order.
const std::vector<int64_t> kFileRecords = {10, 7, 12};
const std::vector<RecordRange> kRanges = {{2, 5, 7}, {0, 0, 10}, {1, 0, 0}, {1, 3, 4}, {2, 0, 5}};
constexpr int64_t kRangeRecords = 26;

TEST(ExampleStreamTest, EmitsShuffleOrderOfTheRangesRecordsEachOnce) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  const StreamOptions options = Options(7);
  auto stream = MustOpen(files, kRanges, options);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->size(), kRangeRecords);
  const Drained drained = Drain(stream.get());
  ASSERT_TRUE(drained.status.ok()) << drained.status;
  EXPECT_EQ(drained.records, ExpectedOrder(kRanges, options));
  EXPECT_EQ(stream->delivered(), kRangeRecords);
  std::vector<RecordId> sorted = drained.records;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(sorted.size(), static_cast<size_t>(kRangeRecords));
  // The end is sticky: more calls deliver nothing.
  std::vector<float> x(2);
  StatusOr<int64_t> more = stream->Next(1, x.data(), nullptr, nullptr);
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(*more, 0);
}

TEST(ExampleStreamTest, ThreadCountChunkingAndPrefetchDoNotChangeTheOutput) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  const std::vector<RecordId> expected = ExpectedOrder(kRanges, Options(5));
  for (int threads = 1; threads <= 4; ++threads) {
    for (int64_t chunk : {1, 2, 64}) {
      StreamOptions options = Options(5, threads, chunk);
      options.prefetch_chunks = chunk == 1 ? 1 : 3;
      auto stream = MustOpen(files, kRanges, options);
      ASSERT_NE(stream, nullptr);
      const Drained drained = Drain(stream.get(), 4);
      ASSERT_TRUE(drained.status.ok()) << drained.status;
      EXPECT_EQ(drained.records, expected) << threads << " threads, chunks of " << chunk;
    }
  }
}

TEST(ExampleStreamTest, CapacityOneIsFileOrder) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  auto stream = MustOpen(files, kRanges, Options(1));
  ASSERT_NE(stream, nullptr);
  const Drained drained = Drain(stream.get());
  ASSERT_TRUE(drained.status.ok()) << drained.status;
  std::vector<RecordId> in_order;
  for (const RecordRange& range : kRanges) {
    for (int64_t i = 0; i < range.num_records; ++i) {
      in_order.push_back({range.file, range.first_record + i});
    }
  }
  EXPECT_EQ(drained.records, in_order);
}

TEST(ExampleStreamTest, BufferLargerThanTheStreamAndNoLabels) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  StreamOptions options = Options(1000);
  options.labels = false;
  auto stream = MustOpen(files, kRanges, options);
  ASSERT_NE(stream, nullptr);
  std::vector<float> x(2 * 100);
  StatusOr<int64_t> rows = stream->Next(100, x.data(), nullptr, nullptr);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(*rows, kRangeRecords);
  const std::vector<RecordId> expected = ExpectedOrder(kRanges, options);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(x[2 * i], static_cast<float>(expected[i].file));
    EXPECT_EQ(x[2 * i + 1], static_cast<float>(expected[i].record));
  }
}

TEST(ExampleStreamTest, VectorLabelsTravelWithTheirRows) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  const StreamOptions options = Options(4);
  StatusOr<std::unique_ptr<ExampleStream>> stream =
      ExampleStream::Open(files, kRanges, Decoder(/*vector_label=*/true), options);
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<float> x(2 * 30);
  std::vector<float> targets(30, -1.0f);
  StatusOr<int64_t> rows = (*stream)->Next(30, x.data(), nullptr, targets.data());
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(*rows, kRangeRecords);
  for (size_t i = 0; i < static_cast<size_t>(kRangeRecords); ++i) {
    EXPECT_EQ(targets[i], x[2 * i + 1] + 0.5f) << i;
  }
}

TEST(ExampleStreamTest, GzipFilesStreamTheSameOrder) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::GZIP).Write(kFileRecords);
  for (int threads : {1, 3}) {
    const StreamOptions options = Options(6, threads);
    auto stream = MustOpen(files, kRanges, options);
    ASSERT_NE(stream, nullptr);
    const Drained drained = Drain(stream.get());
    ASSERT_TRUE(drained.status.ok()) << drained.status;
    EXPECT_EQ(drained.records, ExpectedOrder(kRanges, options));
  }
}

// For a stream of n examples through a buffer of 6: every skip in {0, 1,
// buffer - 1, buffer, mid, n - 1, n} continues as the uninterrupted stream.
void ExpectResumeIsTheRemainder(config::Compression compression, int64_t index_every) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, compression).Write(kFileRecords, index_every);
  const std::vector<RecordId> full = ExpectedOrder(kRanges, Options(6));
  for (int64_t skip : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{6}, int64_t{13},
                       kRangeRecords - 1, kRangeRecords}) {
    StreamOptions options = Options(6, 2, 2);
    options.skip = skip;
    auto stream = MustOpen(files, kRanges, options);
    ASSERT_NE(stream, nullptr);
    EXPECT_EQ(stream->delivered(), skip);
    const Drained drained = Drain(stream.get(), 3);
    ASSERT_TRUE(drained.status.ok()) << drained.status;
    EXPECT_EQ(drained.records, std::vector<RecordId>(full.begin() + skip, full.end()))
        << "skip " << skip;
    EXPECT_EQ(stream->delivered(), kRangeRecords);
  }
}

TEST(ExampleStreamTest, ResumeIsTheRemainderSeekingWithTheIndex) {
  ExpectResumeIsTheRemainder(config::NONE, 4);
  ExpectResumeIsTheRemainder(config::NONE, 1);
}

TEST(ExampleStreamTest, ResumeIsTheRemainderInGzipFiles) {
  ExpectResumeIsTheRemainder(config::GZIP, 0);
}

TEST(ExampleStreamTest, ResumeSeeksWithIndexTfRecordFileOffsets) {
  TempDir dir;
  StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  for (size_t f = 0; f < files.paths.size(); ++f) {
    StatusOr<storage::RecordIndex> index = storage::IndexTfRecordFile(files.paths[f], 3);
    ASSERT_TRUE(index.ok()) << index.status();
    files.indexes[f] = *index;
  }
  StreamOptions options = Options(5, 2, 2);
  const std::vector<RecordId> full = ExpectedOrder(kRanges, options);
  options.skip = 11;
  auto stream = MustOpen(files, kRanges, options);
  ASSERT_NE(stream, nullptr);
  const Drained drained = Drain(stream.get());
  ASSERT_TRUE(drained.status.ok()) << drained.status;
  EXPECT_EQ(drained.records, std::vector<RecordId>(full.begin() + 11, full.end()));
}

TEST(ExampleStreamTest, ResumeWithoutIndexes) {
  TempDir dir;
  StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(kFileRecords);
  files.indexes.clear();
  StreamOptions options = Options(4);
  options.skip = 9;
  const std::vector<RecordId> full = ExpectedOrder(kRanges, options);
  auto stream = MustOpen(files, kRanges, options);
  ASSERT_NE(stream, nullptr);
  const Drained drained = Drain(stream.get());
  ASSERT_TRUE(drained.status.ok()) << drained.status;
  EXPECT_EQ(drained.records, std::vector<RecordId>(full.begin() + 9, full.end()));
}

// Examples rank `rank` trained in the first `steps` steps of `streams`.
int64_t RowsOfSteps(const coordinator::StageStreams& streams, int64_t global_batch, int rank,
                    int64_t steps) {
  int64_t rows = 0;
  for (int64_t step = 0; step < steps; ++step) {
    rows += StreamStepRows(streams.RankExamples(), global_batch, rank, step);
  }
  return rows;
}

// The coordinator's plan and the ranks' streams agree: each rank's stream is
// EmissionOrder of its ranges, a resume on the same world size continues it,
// and 3 steps on 2 ranks then the rest on 3 ranks train every record once.
TEST(ExampleStreamTest, PlannedStreamsTrainEveryRecordOnceAcrossWorldSizes) {
  TempDir dir;
  const std::vector<int64_t> records = {40, 25, 33};
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write(records, 4);
  coordinator::StreamJob job;
  job.seed = 7;
  job.global_batch = 8;
  job.shuffle_buffer = 6;
  job.shard_records = 8;
  job.file_records = records;
  job.splittable = {true, true, true};
  constexpr int64_t kEpoch = 1;
  auto stream_of = [&](const coordinator::StageStreams& streams, int rank, int64_t skip) {
    StreamOptions options = Options(job.shuffle_buffer, 2, 4);
    options.seed = job.seed;
    options.shuffle_key = StreamShuffleKey(kEpoch, streams.stage, rank);
    options.skip = skip;
    auto stream = MustOpen(files, streams.ranks[static_cast<size_t>(rank)].ranges, options);
    Drained drained = Drain(stream.get());
    EXPECT_TRUE(drained.status.ok()) << drained.status;
    return drained.records;
  };
  StatusOr<coordinator::StageStreams> two = coordinator::PlanStreams(job, kEpoch, {}, 2);
  ASSERT_TRUE(two.ok()) << two.status();
  StatusOr<coordinator::StageStreams> same = coordinator::PlanStreams(job, kEpoch, {{2, 3}}, 2);
  ASSERT_TRUE(same.ok()) << same.status();
  ASSERT_EQ(same->skip_steps, 3);
  std::vector<RecordId> trained;
  for (int rank = 0; rank < 2; ++rank) {
    const std::vector<RecordId> full = stream_of(*two, rank, 0);
    EXPECT_EQ(full, coordinator::EmissionOrder(job, kEpoch, two->stage,
                                               two->ranks[static_cast<size_t>(rank)], rank));
    const int64_t taken = RowsOfSteps(*two, job.global_batch, rank, 3);
    EXPECT_EQ(stream_of(*same, rank, taken),
              std::vector<RecordId>(full.begin() + taken, full.end()));
    trained.insert(trained.end(), full.begin(), full.begin() + taken);
  }
  StatusOr<coordinator::StageStreams> three = coordinator::PlanStreams(job, kEpoch, {{2, 3}}, 3);
  ASSERT_TRUE(three.ok()) << three.status();
  for (int rank = 0; rank < 3; ++rank) {
    const std::vector<RecordId> rest = stream_of(*three, rank, 0);
    trained.insert(trained.end(), rest.begin(), rest.end());
  }
  std::sort(trained.begin(), trained.end());
  std::vector<RecordId> all;
  for (int32_t f = 0; f < 3; ++f) {
    for (int64_t r = 0; r < records[static_cast<size_t>(f)]; ++r) all.push_back({f, r});
  }
  EXPECT_EQ(trained, all);
}

void ExpectError(const Status& status, StatusCode code, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status;
  for (const std::string& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos) << needle << " in " << status;
  }
}

// Flips a byte inside record `record`'s data (4 records of equal size).
void CorruptRecordData(const std::string& path, const storage::RecordIndex& index, int64_t record) {
  ASSERT_EQ(index.index_every, 1);
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(index.offsets[static_cast<size_t>(record)] + 14);
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5a);
  file.seekp(index.offsets[static_cast<size_t>(record)] + 14);
  file.write(&byte, 1);
}

TEST(ExampleStreamTest, CorruptedRecordIsStickyDataLossAndNothingAfterItIsDelivered) {
  TempDir dir;
  StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write({20}, 1);
  files.prepared_shards = true;
  CorruptRecordData(files.paths[0], files.indexes[0], 11);
  const std::vector<RecordRange> ranges = {{0, 0, 20}};
  for (int threads : {1, 3}) {
    auto stream = MustOpen(files, ranges, Options(4, threads));
    ASSERT_NE(stream, nullptr);
    const Drained drained = Drain(stream.get(), 2);
    ExpectError(drained.status, StatusCode::kDataLoss,
                {files.paths[0] + ", record 11: ", "data CRC mismatch", "shardtrain data prepare"});
    for (const RecordId& id : drained.records) EXPECT_LT(id.record, 11);
    std::vector<float> x(2);
    StatusOr<int64_t> again = stream->Next(1, x.data(), nullptr, nullptr);
    EXPECT_EQ(again.status(), drained.status);
  }
}

// In uncompressed and (read in turn, decoded apart) GZIP files.
class ExampleStreamErrorTest : public ::testing::TestWithParam<config::Compression> {};

INSTANTIATE_TEST_SUITE_P(Compression, ExampleStreamErrorTest,
                         ::testing::Values(config::NONE, config::GZIP));

TEST_P(ExampleStreamErrorTest, DecoderErrorsCarryTheFileAndRecord) {
  TempDir dir;
  tf::Example missing;  // no "x"
  (*missing.mutable_features()->mutable_feature())["label"].mutable_int64_list()->add_value(1);
  const StreamFiles files = StreamFilesBuilder(dir, GetParam())
                                .Write({6, 6}, 4,
                                       {{},
                                        {RecordBytes(1, 0), RecordBytes(1, 1),
                                         missing.SerializeAsString(), "not an example"}});
  {
    auto stream = MustOpen(files, {{0, 0, 6}, {1, 0, 6}}, Options(3));
    ASSERT_NE(stream, nullptr);
    const Drained drained = Drain(stream.get());
    ExpectError(drained.status, StatusCode::kInvalidArgument,
                {files.paths[1] + ", record 2: ", "'x'"});
    EXPECT_LE(drained.records.size(), 8u);
  }
  {
    auto stream = MustOpen(files, {{1, 3, 3}}, Options(3));
    ASSERT_NE(stream, nullptr);
    const Drained drained = Drain(stream.get());
    ExpectError(drained.status, StatusCode::kDataLoss, {files.paths[1] + ", record 3: "});
    EXPECT_TRUE(drained.records.empty());
  }
}

TEST(ExampleStreamTest, MissingFileIsAnErrorOfNext) {
  TempDir dir;
  StreamFiles files;
  files.paths = {dir.File("absent.tfrecord")};
  auto stream = MustOpen(files, {{0, 2, 3}}, Options(2));
  ASSERT_NE(stream, nullptr);
  const Drained drained = Drain(stream.get());
  ExpectError(drained.status, StatusCode::kNotFound, {dir.File("absent.tfrecord") + ", record 2"});
}

TEST_P(ExampleStreamErrorTest, FileShorterThanItsRangeIsDataLoss) {
  TempDir dir;
  StreamFiles files = StreamFilesBuilder(dir, GetParam()).Write({5});
  files.indexes.clear();  // no index to check the range against
  auto stream = MustOpen(files, {{0, 3, 4}}, Options(2));
  ASSERT_NE(stream, nullptr);
  const Drained drained = Drain(stream.get());
  ExpectError(drained.status, StatusCode::kDataLoss, {files.paths[0] + ", record 5: "});
}

TEST(ExampleStreamTest, OpenRejectsBadRangesAndOptions) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::NONE).Write({5});
  auto open = [&](const std::vector<RecordRange>& ranges, const StreamOptions& options) {
    return ExampleStream::Open(files, ranges, Decoder(), options).status();
  };
  ExpectError(open({{0, 3, 3}}, Options(2)), StatusCode::kInvalidArgument,
              {"runs past the end", "5 records"});
  ExpectError(open({{1, 0, 1}}, Options(2)), StatusCode::kInvalidArgument, {"file 1"});
  ExpectError(open({{0, -1, 1}}, Options(2)), StatusCode::kInvalidArgument, {"first -1"});
  ExpectError(open({{0, 0, 5}}, Options(0)), StatusCode::kInvalidArgument, {"shuffle_buffer"});
  ExpectError(open({{0, 0, 5}}, Options(2, 0)), StatusCode::kInvalidArgument, {"reader_threads"});
  ExpectError(open({{0, 0, 5}}, Options(2, 1, 0)), StatusCode::kInvalidArgument, {"chunk_records"});
  StreamOptions skip = Options(2);
  skip.skip = 6;
  ExpectError(open({{0, 0, 5}}, skip), StatusCode::kInvalidArgument, {"cannot skip 6"});
}

TEST(ExampleStreamTest, ClosingABusyStreamJoinsItsThreads) {
  TempDir dir;
  const StreamFiles files = StreamFilesBuilder(dir, config::GZIP).Write({3000, 3000});
  const std::vector<RecordRange> ranges = {{0, 0, 3000}, {1, 0, 3000}};
  for (int taken : {0, 1, 500}) {
    StreamOptions options = Options(50, 4, 16);
    options.prefetch_chunks = 8;
    auto stream = MustOpen(files, ranges, options);
    ASSERT_NE(stream, nullptr);
    std::vector<float> x(2 * 500);
    if (taken > 0) {
      StatusOr<int64_t> rows = stream->Next(taken, x.data(), nullptr, nullptr);
      ASSERT_TRUE(rows.ok()) << rows.status();
      EXPECT_EQ(*rows, taken);
    }
    stream.reset();  // must return promptly with readers mid-chunk
  }
}

}  // namespace
}  // namespace shardtrain::data
