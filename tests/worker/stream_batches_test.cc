// Tests for StreamBatches and StreamPlanner: each step's rows, first_row and
// global_rows follow StreamStepRows over the ranks; a resumed assignment skips
// its rows and continues the cursor; earlier stages count in the epoch's
// steps; a stream that ends early is DataLoss; inconsistent assignments are
// InvalidArgument; the planner resumes a cursorless checkpoint from the
// in-memory order's steps and reads real TFRecord files.
#include "worker/stream_batches.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/record_index.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 2;

// Delivers examples `delivered`.. of `size`: x = {i, -i}, class id i % 3.
class FakeStream : public data::ExampleStream {
 public:
  FakeStream(int64_t size, int64_t skip) : size_(size), delivered_(skip) {}
  StatusOr<int64_t> Next(int64_t rows, float* x, int32_t* class_ids, float*) override {
    const int64_t n = std::min(rows, size_ - delivered_);
    for (int64_t r = 0; r < n; ++r, ++delivered_) {
      x[r * kFeatures] = static_cast<float>(delivered_);
      x[r * kFeatures + 1] = -static_cast<float>(delivered_);
      class_ids[r] = static_cast<int32_t>(delivered_ % 3);
    }
    return n;
  }
  int64_t size() const override { return size_; }
  int64_t delivered() const override { return delivered_; }

 private:
  int64_t size_, delivered_;
};

// Three ranks' streams of 8, 5 and 2 examples, a global batch of 7 (local
// batches 3, 2, 2): steps of (3, 2, 2), (3, 2, 0), (2, 1, 0) rows.
coordinator::StreamAssignment Assignment(int rank, int32_t stage = 0, int64_t skip_steps = 0) {
  const std::vector<int64_t> examples = {8, 5, 2};
  coordinator::StreamAssignment a;
  a.set_epoch(4);
  a.set_stage(stage);
  a.set_skip_steps(skip_steps);
  for (int64_t e : examples) a.add_rank_examples(e);
  coordinator::RecordRange* range = a.add_ranges();
  range->set_file(rank);
  range->set_num_records(examples[static_cast<size_t>(rank)]);
  return a;
}

StreamSource Source(int rank) {
  StreamSource source;
  source.seed = 9;
  source.rank = rank;
  source.global_batch = 7;
  source.epoch_examples = 15;
  return source;
}

// Batches of `rank` over a fake stream that holds `stream_size` examples.
std::unique_ptr<StreamBatches> Batches(int rank, const coordinator::StreamAssignment& a,
                                       const std::vector<DataStage>& stages, int64_t stream_size) {
  const data::StreamOptions options = StreamBatches::StreamOptionsFor(Source(rank), a);
  auto batches = StreamBatches::FromStream(Source(rank), a, stages,
                                           std::make_unique<FakeStream>(stream_size, options.skip));
  EXPECT_TRUE(batches.ok()) << batches.status();
  return batches.ok() ? std::move(*batches) : nullptr;
}

struct Buffers {
  std::vector<float> x = std::vector<float>(7 * kFeatures);
  std::vector<int32_t> ids = std::vector<int32_t>(7);
};

TEST(StreamBatchesTest, StepsFollowStreamStepRowsOverTheRanks) {
  const int64_t expected_rows[3][3] = {{3, 3, 2}, {2, 2, 1}, {2, 0, 0}};
  const int64_t expected_first[3][3] = {{0, 0, 0}, {3, 3, 2}, {5, 5, 3}};
  const int64_t global[3] = {7, 5, 3};
  for (int rank = 0; rank < 3; ++rank) {
    SCOPED_TRACE(rank);
    const coordinator::StreamAssignment a = Assignment(rank);
    auto batches = Batches(rank, a, {}, a.rank_examples(rank));
    ASSERT_NE(batches, nullptr);
    EXPECT_EQ(batches->steps_in_epoch(), 3);
    EXPECT_EQ(batches->first_step(), 0);
    EXPECT_EQ(batches->steps(), 3);
    EXPECT_EQ(batches->cursor(), (std::vector<DataStage>{{3, 0}}));
    Buffers b;
    int64_t next_example = 0;
    for (int s = 0; s < 3; ++s) {
      StatusOr<StepRows> rows = batches->Next(b.x.data(), b.ids.data(), nullptr);
      ASSERT_TRUE(rows.ok()) << rows.status();
      EXPECT_EQ(rows->rows, expected_rows[rank][s]) << "step " << s;
      EXPECT_EQ(rows->first_row, expected_first[rank][s]) << "step " << s;
      EXPECT_EQ(rows->global_rows, global[s]) << "step " << s;
      for (int64_t r = 0; r < rows->rows; ++r, ++next_example) {
        EXPECT_EQ(b.x[r * kFeatures], static_cast<float>(next_example));
        EXPECT_EQ(b.ids[r], next_example % 3);
      }
      EXPECT_EQ(batches->cursor(), (std::vector<DataStage>{{3, s + 1}}));
    }
    EXPECT_EQ(next_example, a.rank_examples(rank));
    EXPECT_EQ(batches->Next(b.x.data(), b.ids.data(), nullptr).status().code(),
              StatusCode::kOutOfRange);
  }
}

TEST(StreamBatchesTest, ResumedAssignmentSkipsItsRowsAndContinuesTheCursor) {
  // Rank 1 took steps 0 and 1 (2 + 2 rows) before the checkpoint.
  const coordinator::StreamAssignment a = Assignment(1, /*stage=*/0, /*skip_steps=*/2);
  EXPECT_EQ(StreamBatches::StreamOptionsFor(Source(1), a).skip, 4);
  EXPECT_EQ(StreamBatches::StreamOptionsFor(Source(0), Assignment(0, 0, 2)).skip, 6);
  EXPECT_EQ(StreamBatches::StreamOptionsFor(Source(2), Assignment(2, 0, 2)).skip, 2);
  auto batches = Batches(1, a, {{3, 2}}, 5);
  ASSERT_NE(batches, nullptr);
  EXPECT_EQ(batches->first_step(), 2);
  EXPECT_EQ(batches->steps(), 1);
  EXPECT_EQ(batches->cursor(), (std::vector<DataStage>{{3, 2}}));
  Buffers b;
  StatusOr<StepRows> rows = batches->Next(b.x.data(), b.ids.data(), nullptr);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->rows, 1);
  EXPECT_EQ(rows->first_row, 2);
  EXPECT_EQ(rows->global_rows, 3);
  EXPECT_EQ(b.x[0], 4.0f);  // the stream's fifth example
  EXPECT_EQ(batches->cursor(), (std::vector<DataStage>{{3, 3}}));
}

TEST(StreamBatchesTest, EarlierStagesCountInTheEpochAndTheCursor) {
  // An epoch begun in memory (4 global batches), continued on 2 ranks for 3
  // steps, now dealt to 3 ranks as stage 2.
  const std::vector<DataStage> stages = {{0, 4}, {2, 3}};
  auto batches = Batches(0, Assignment(0, /*stage=*/2), stages, 8);
  ASSERT_NE(batches, nullptr);
  EXPECT_EQ(batches->first_step(), 7);
  EXPECT_EQ(batches->steps_in_epoch(), 10);
  EXPECT_EQ(batches->cursor(), (std::vector<DataStage>{{0, 4}, {2, 3}, {3, 0}}));
  Buffers b;
  ASSERT_TRUE(batches->Next(b.x.data(), b.ids.data(), nullptr).ok());
  EXPECT_EQ(batches->cursor(), (std::vector<DataStage>{{0, 4}, {2, 3}, {3, 1}}));
  // Resuming stage 1 drops the stages after it from the cursor.
  auto resumed = Batches(0, Assignment(0, /*stage=*/1, /*skip_steps=*/1), {{0, 4}, {3, 1}}, 8);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(resumed->first_step(), 5);
  EXPECT_EQ(resumed->cursor(), (std::vector<DataStage>{{0, 4}, {3, 1}}));
}

TEST(StreamBatchesTest, StreamEndingEarlyIsDataLoss) {
  auto batches = Batches(0, Assignment(0), {}, /*stream_size=*/7);  // 8 promised
  ASSERT_NE(batches, nullptr);
  Buffers b;
  ASSERT_TRUE(batches->Next(b.x.data(), b.ids.data(), nullptr).ok());
  ASSERT_TRUE(batches->Next(b.x.data(), b.ids.data(), nullptr).ok());
  const Status status = batches->Next(b.x.data(), b.ids.data(), nullptr).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("ended after 7 of its 8 examples"), std::string::npos) << status;
}

TEST(StreamBatchesTest, InconsistentAssignmentsAreInvalidArgument) {
  auto open = [](const StreamSource& source, const coordinator::StreamAssignment& a,
                 const std::vector<DataStage>& stages) {
    return StreamBatches::FromStream(source, a, stages, std::make_unique<FakeStream>(8, 0))
        .status()
        .code();
  };
  EXPECT_EQ(open(Source(0), Assignment(0), {}), StatusCode::kOk);
  StreamSource small_batch = Source(0);
  small_batch.global_batch = 2;  // fewer rows than ranks
  EXPECT_EQ(open(small_batch, Assignment(0), {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(open(Source(3), Assignment(0), {}), StatusCode::kInvalidArgument);  // no rank 3
  coordinator::StreamAssignment short_ranges = Assignment(0);
  short_ranges.mutable_ranges(0)->set_num_records(7);
  EXPECT_EQ(open(Source(0), short_ranges, {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(open(Source(0), Assignment(0, /*stage=*/1), {}), StatusCode::kInvalidArgument);
  EXPECT_EQ(open(Source(0), Assignment(0, 0, /*skip_steps=*/4), {{3, 4}}),
            StatusCode::kInvalidArgument);
}

TEST(StagesToResumeTest, CursorlessMidEpochCheckpointResumesTheInMemorySteps) {
  EXPECT_EQ(StagesToResume({}, 0, 32), std::vector<DataStage>{});
  EXPECT_EQ(StagesToResume({}, 96, 32), (std::vector<DataStage>{{0, 3}}));
  EXPECT_EQ(StagesToResume({{2, 5}}, 160, 32), (std::vector<DataStage>{{2, 5}}));
}

// After an in-memory epoch's short last step the position is the epoch's
// examples, not a multiple of the batch: all of its steps were trained.
TEST(StagesToResumeTest, ShortLastStepCountsAsTrained) {
  EXPECT_EQ(StagesToResume({}, 300, 32), (std::vector<DataStage>{{0, 10}}));
  EXPECT_EQ(StagesToResume({}, 64, 32), (std::vector<DataStage>{{0, 2}}));
}

// Writes `records` examples {i, -i} with class id i % 3 to one file.
data::StreamFiles WriteFile(const data::testing::TempDir& dir, int64_t records) {
  const std::string path = dir.File("train.tfrecord");
  auto writer = storage::TfRecordWriter::Open(path, storage::TfRecordCompression::kNone);
  EXPECT_TRUE(writer.ok()) << writer.status();
  for (int64_t i = 0; i < records; ++i) {
    tf::Example example;
    auto& features = *example.mutable_features()->mutable_feature();
    features["x"].mutable_float_list()->add_value(static_cast<float>(i));
    features["x"].mutable_float_list()->add_value(-static_cast<float>(i));
    features["label"].mutable_int64_list()->add_value(i % 3);
    EXPECT_TRUE((*writer)->Write(example.SerializeAsString()).ok());
  }
  EXPECT_TRUE((*writer)->Close().ok());
  data::StreamFiles files;
  files.paths = {path};
  StatusOr<storage::RecordIndex> index = storage::IndexTfRecordFile(path, 4);
  EXPECT_TRUE(index.ok()) << index.status();
  if (index.ok()) files.indexes = {*index};
  return files;
}

data::ExampleDecoder Decoder() {
  config::DataConfig data;
  config::FeatureSpec* x = data.add_features();
  x->set_key("x");
  x->set_type(config::FeatureSpec::FLOAT_LIST);
  x->add_shape(kFeatures);
  data.set_num_classes(3);
  StatusOr<data::ExampleDecoder> decoder = data::ExampleDecoder::Create(data, {kFeatures});
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return std::move(decoder).value();
}

TEST(StreamPlannerTest, ResumesACursorlessCheckpointFromRealFiles) {
  data::testing::TempDir dir;
  const data::StreamFiles files = WriteFile(dir, 8);
  const data::ExampleDecoder decoder = Decoder();
  StreamSource source = Source(0);
  source.files = &files;
  source.decoder = &decoder;
  source.epoch_examples = 8;
  std::vector<DataStage> asked;
  StreamPlanner planner(source, [&](int64_t epoch, const std::vector<DataStage>& stages) {
    asked = stages;
    // One rank: the leftover records 7.. of the in-memory order's first
    // global batch of 7, as a new stage.
    coordinator::StreamAssignment a;
    a.set_epoch(epoch);
    a.set_stage(1);
    a.add_rank_examples(1);
    coordinator::RecordRange* range = a.add_ranges();
    range->set_first_record(7);
    range->set_num_records(1);
    return StatusOr<coordinator::StreamAssignment>(a);
  });
  EXPECT_TRUE(planner.CheckExamples(kFeatures, 0).ok());
  EXPECT_EQ(planner.CheckExamples(3, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(planner.CheckExamples(kFeatures, 3).code(), StatusCode::kInvalidArgument);
  auto batches = planner.Plan(2, /*start_position=*/7, {});
  ASSERT_TRUE(batches.ok()) << batches.status();
  EXPECT_EQ(asked, (std::vector<DataStage>{{0, 1}}));
  EXPECT_EQ((*batches)->first_step(), 1);
  EXPECT_EQ((*batches)->steps_in_epoch(), 2);
  Buffers b;
  StatusOr<StepRows> rows = (*batches)->Next(b.x.data(), b.ids.data(), nullptr);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->rows, 1);
  EXPECT_EQ(rows->global_rows, 1);
  EXPECT_EQ(b.x[0], 7.0f);
  EXPECT_EQ(b.x[1], -7.0f);
  EXPECT_EQ(b.ids[0], 1);
  EXPECT_EQ((*batches)->cursor(), (std::vector<DataStage>{{0, 1}, {1, 1}}));
}

}  // namespace
}  // namespace shardtrain
