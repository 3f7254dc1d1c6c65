// The stream planner (coordinator/stream_plan.h): shard cutting, a fresh
// epoch's deal (exactly once, balanced, deterministic, contiguous without
// shuffle), and resumes: the same world size continues the last stage, and any
// chain of world sizes (including the in-memory planner's stage) trains every
// record of the epoch exactly once.
#include "coordinator/stream_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/shard_planner.h"

namespace shardtrain::coordinator {
namespace {

// 94 records: two splittable files cut into shards of 6, an empty file, and
// two whole (compressed) files.
StreamJob TestJob(bool shuffle, int64_t shuffle_buffer, int64_t global_batch) {
  StreamJob job;
  job.seed = 1234;
  job.shuffle = shuffle;
  job.global_batch = global_batch;
  job.shuffle_buffer = shuffle_buffer;
  job.shard_records = 6;
  job.file_records = {23, 0, 17, 45, 9};
  job.splittable = {true, true, false, true, false};
  return job;
}

std::vector<RecordId> AllRecords(const StreamJob& job) {
  std::vector<RecordId> all;
  for (size_t f = 0; f < job.file_records.size(); ++f) {
    for (int64_t r = 0; r < job.file_records[f]; ++r) {
      all.push_back(RecordId{static_cast<int32_t>(f), r});
    }
  }
  return all;
}

void AppendRecords(const std::vector<RecordRange>& ranges, std::vector<RecordId>* out) {
  for (const RecordRange& range : ranges) {
    for (int64_t i = 0; i < range.num_records; ++i) {
      out->push_back(RecordId{range.file, range.first_record + i});
    }
  }
}

std::vector<RecordId> StreamRecords(const StageStreams& streams) {
  std::vector<RecordId> records;
  for (const RankStream& rank : streams.ranks) AppendRecords(rank.ranges, &records);
  return records;
}

std::vector<RecordId> Sorted(std::vector<RecordId> records) {
  std::sort(records.begin(), records.end());
  return records;
}

// What the ranks of `streams` trained on in their first `steps` steps.
std::vector<RecordId> Trained(const StreamJob& job, int64_t epoch, const StageStreams& streams,
                              int64_t steps) {
  const std::vector<int64_t> examples = streams.RankExamples();
  std::vector<RecordId> trained;
  for (int r = 0; r < static_cast<int>(streams.ranks.size()); ++r) {
    int64_t rows = 0;
    for (int64_t s = 0; s < steps; ++s) rows += StreamStepRows(examples, job.global_batch, r, s);
    const std::vector<RecordId> order =
        EmissionOrder(job, epoch, streams.stage, streams.ranks[static_cast<size_t>(r)], r);
    trained.insert(trained.end(), order.begin(), order.begin() + rows);
  }
  return trained;
}

// What the in-memory planner trained in its first `steps` global batches.
std::vector<RecordId> InMemoryTrained(const StreamJob& job, int64_t epoch, int64_t steps) {
  const std::vector<int64_t> order =
      EpochExampleOrder(job.seed, epoch, job.file_records, job.shuffle);
  const int64_t trained = std::min<int64_t>(steps * job.global_batch, order.size());
  const std::vector<RecordId> all = AllRecords(job);  // ids are indices into it
  std::vector<RecordId> records;
  for (int64_t i = 0; i < trained; ++i) records.push_back(all[static_cast<size_t>(order[i])]);
  return records;
}

void ExpectSameStreams(const StageStreams& a, const StageStreams& b) {
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (size_t r = 0; r < a.ranks.size(); ++r) {
    EXPECT_EQ(a.ranks[r].ranges, b.ranks[r].ranges) << "rank " << r;
    EXPECT_EQ(a.ranks[r].examples, b.ranks[r].examples) << "rank " << r;
  }
}

TEST(JobShardsTest, CutsSplittableFilesKeepsOthersWhole) {
  const StreamJob job = TestJob(true, 4, 8);
  const std::vector<RecordRange> expected = {
      {0, 0, 6},  {0, 6, 6},  {0, 12, 6}, {0, 18, 5}, {2, 0, 17}, {3, 0, 6},  {3, 6, 6},
      {3, 12, 6}, {3, 18, 6}, {3, 24, 6}, {3, 30, 6}, {3, 36, 6}, {3, 42, 3}, {4, 0, 9}};
  EXPECT_EQ(JobShards(job), expected);
}

TEST(JobShardsTest, HonoursFileRecords) {
  StreamJob job = TestJob(true, 4, 8);
  job.file_records = {12, 0, 3, 0, 0};  // data.train_examples cut the last files
  const std::vector<RecordRange> expected = {{0, 0, 6}, {0, 6, 6}, {2, 0, 3}};
  EXPECT_EQ(JobShards(job), expected);
}

TEST(JobShardsTest, MissingSplittableFlagOrNoShardSizeKeepsFilesWhole) {
  StreamJob job = TestJob(true, 4, 8);
  job.file_records = {7, 5};
  job.splittable = {true};
  EXPECT_EQ(JobShards(job), (std::vector<RecordRange>{{0, 0, 6}, {0, 6, 1}, {1, 0, 5}}));
  job.shard_records = 0;
  EXPECT_EQ(JobShards(job), (std::vector<RecordRange>{{0, 0, 7}, {1, 0, 5}}));
  job.file_records = {};
  EXPECT_TRUE(JobShards(job).empty());
}

TEST(PlanStreamsTest, FreshEpochHoldsEveryRecordOnceAndBalances) {
  for (bool shuffle : {true, false}) {
    const StreamJob job = TestJob(shuffle, shuffle ? 5 : 1, 8);
    for (int world : {1, 2, 3, 4, 8}) {
      StatusOr<StageStreams> streams = PlanStreams(job, 3, {}, world);
      ASSERT_TRUE(streams.ok()) << streams.status().message();
      EXPECT_EQ(streams->stage, 0);
      EXPECT_EQ(streams->skip_steps, 0);
      ASSERT_EQ(streams->ranks.size(), static_cast<size_t>(world));
      EXPECT_EQ(Sorted(StreamRecords(*streams)), AllRecords(job)) << "world " << world;
      int64_t least = streams->ranks[0].examples, most = least;
      for (const RankStream& rank : streams->ranks) {
        int64_t examples = 0;
        for (const RecordRange& range : rank.ranges) examples += range.num_records;
        EXPECT_EQ(rank.examples, examples);
        least = std::min(least, rank.examples);
        most = std::max(most, rank.examples);
      }
      // The largest shard is the 17-record file; contiguous blocks end at the
      // shard boundary nearest their share, within half a shard of it.
      EXPECT_LE(most - least, shuffle ? 17 : 2 * 17) << "world " << world;
    }
  }
}

TEST(PlanStreamsTest, UniformShardsBalanceWithinOneShard) {
  StreamJob job = TestJob(false, 1, 64);
  job.file_records = {100, 100, 100};
  job.splittable = {true, true, true};
  job.shard_records = 10;
  for (bool shuffle : {true, false}) {
    job.shuffle = shuffle;
    for (int world : {2, 3, 4, 7}) {
      StatusOr<StageStreams> streams = PlanStreams(job, 0, {}, world);
      ASSERT_TRUE(streams.ok());
      const std::vector<int64_t> examples = streams->RankExamples();
      const auto [least, most] = std::minmax_element(examples.begin(), examples.end());
      EXPECT_LE(*most - *least, 10) << "world " << world << " shuffle " << shuffle;
    }
  }
}

TEST(PlanStreamsTest, Deterministic) {
  const StreamJob job = TestJob(true, 5, 8);
  StatusOr<StageStreams> a = PlanStreams(job, 2, {}, 3);
  StatusOr<StageStreams> b = PlanStreams(job, 2, {}, 3);
  ASSERT_TRUE(a.ok() && b.ok());
  ExpectSameStreams(*a, *b);
  EXPECT_EQ(EmissionOrder(job, 2, 0, a->ranks[1], 1), EmissionOrder(job, 2, 0, b->ranks[1], 1));
  // Another epoch deals the shards in another order.
  StatusOr<StageStreams> other = PlanStreams(job, 3, {}, 3);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(a->ranks[0].ranges, other->ranks[0].ranges);
}

TEST(PlanStreamsTest, WithoutShuffleRanksReadContiguousBlocksInFileOrder) {
  const StreamJob job = TestJob(false, 1, 8);
  StatusOr<StageStreams> streams = PlanStreams(job, 5, {}, 3);
  ASSERT_TRUE(streams.ok());
  std::vector<RecordRange> concatenated;
  for (const RankStream& rank : streams->ranks) {
    EXPECT_FALSE(rank.ranges.empty());
    concatenated.insert(concatenated.end(), rank.ranges.begin(), rank.ranges.end());
  }
  EXPECT_EQ(concatenated, JobShards(job));
  // A buffer of one slot emits the records in reading order.
  std::vector<RecordId> in_order;
  AppendRecords(streams->ranks[1].ranges, &in_order);
  EXPECT_EQ(EmissionOrder(job, 5, 0, streams->ranks[1], 1), in_order);
}

TEST(PlanStreamsTest, EmissionOrderIsAPermutationOfTheStream) {
  const StreamJob job = TestJob(true, 7, 8);
  StatusOr<StageStreams> streams = PlanStreams(job, 0, {}, 2);
  ASSERT_TRUE(streams.ok());
  for (int r = 0; r < 2; ++r) {
    const RankStream& rank = streams->ranks[static_cast<size_t>(r)];
    std::vector<RecordId> in_order;
    AppendRecords(rank.ranges, &in_order);
    const std::vector<RecordId> emitted = EmissionOrder(job, 0, 0, rank, r);
    EXPECT_NE(emitted, in_order);
    EXPECT_EQ(Sorted(emitted), Sorted(in_order));
  }
}

// Every rank needs a row of each global batch; a stage's world size comes from
// a request, and the planner holds a stream per rank: larger ones are refused
// before anything is allocated.
TEST(PlanStreamsTest, RejectsWorldSizesAboveTheGlobalBatch) {
  const StreamJob job = TestJob(true, 5, 8);
  EXPECT_TRUE(PlanStreams(job, 0, {}, 8).ok());
  ASSERT_EQ(PlanStreams(job, 0, {}, 9).status().code(), StatusCode::kInvalidArgument);
  const Status stage = PlanStreams(job, 0, {{9, 0}}, 2).status();
  ASSERT_EQ(stage.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(stage.message().find("data stage 0 has world size 9, more than the global batch 8"),
            std::string::npos)
      << stage;
  const Status huge = PlanStreams(job, 0, {{2, 1}, {2147483647, 1}}, 3).status();
  EXPECT_EQ(huge.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.message().find("data stage 1 has world size 2147483647"), std::string::npos)
      << huge;
}

// StreamShuffleKey holds the stage in 12 bits: an epoch has at most 4096.
TEST(PlanStreamsTest, RejectsMoreThan4096Stages) {
  const StreamJob job = TestJob(true, 5, 8);
  std::vector<DataStage> stages;
  for (int i = 0; i < 4096; ++i) stages.push_back({1 + i % 2, 0});  // 1, 2, 1, ..., 2
  StatusOr<StageStreams> last = PlanStreams(job, 0, stages, 2);     // continues stage 4095
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->stage, 4095);
  const Status new_stage = PlanStreams(job, 0, stages, 3).status();
  ASSERT_EQ(new_stage.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(new_stage.message().find("data stage 4096"), std::string::npos) << new_stage;
  stages.push_back({1, 0});
  const Status too_many = PlanStreams(job, 0, stages, 1).status();
  EXPECT_EQ(too_many.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.message().find("4097 data stages"), std::string::npos) << too_many;
}

TEST(PlanStreamsTest, SameWorldSizeContinuesTheLastStage) {
  const StreamJob job = TestJob(true, 5, 8);
  StatusOr<StageStreams> fresh = PlanStreams(job, 1, {}, 2);
  ASSERT_TRUE(fresh.ok());
  StatusOr<StageStreams> resumed = PlanStreams(job, 1, {{2, 4}}, 2);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed->stage, 0);
  EXPECT_EQ(resumed->skip_steps, 4);
  ExpectSameStreams(*fresh, *resumed);

  // After a change of world size, a second resume continues the new stage.
  StatusOr<StageStreams> second = PlanStreams(job, 1, {{2, 4}}, 3);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->stage, 1);
  StatusOr<StageStreams> continued = PlanStreams(job, 1, {{2, 4}, {3, 1}}, 3);
  ASSERT_TRUE(continued.ok());
  EXPECT_EQ(continued->stage, 1);
  EXPECT_EQ(continued->skip_steps, 1);
  ExpectSameStreams(*second, *continued);
}

// Trains `world_sizes` stage after stage, each for steps_num/steps_den of its
// streams' steps (the last planned stage to its end), and expects every record
// of the epoch trained exactly once. in_memory_steps >= 0 starts the epoch
// with an in-memory planner stage of that many steps.
void ExpectExactlyOnce(const StreamJob& job, const std::vector<int>& world_sizes, int64_t steps_num,
                       int64_t steps_den, int64_t in_memory_steps = -1) {
  const int64_t epoch = 4;
  std::vector<DataStage> stages;
  std::vector<RecordId> trained;
  if (in_memory_steps >= 0) {
    stages.push_back({0, in_memory_steps});
    trained = InMemoryTrained(job, epoch, in_memory_steps);
  }
  std::string trace = "in-memory " + std::to_string(in_memory_steps);
  for (size_t i = 0; i < world_sizes.size(); ++i) {
    StatusOr<StageStreams> streams = PlanStreams(job, epoch, stages, world_sizes[i]);
    ASSERT_TRUE(streams.ok()) << trace << ": " << streams.status().message();
    ASSERT_EQ(streams->stage, static_cast<int32_t>(stages.size())) << trace;
    const int64_t all_steps = StreamSteps(streams->RankExamples(), job.global_batch);
    const bool last = i + 1 == world_sizes.size();
    const int64_t steps = last ? all_steps : all_steps * steps_num / steps_den;
    const std::vector<RecordId> part = Trained(job, epoch, *streams, steps);
    trained.insert(trained.end(), part.begin(), part.end());
    stages.push_back({world_sizes[i], steps});
    trace += " -> " + std::to_string(world_sizes[i]) + " ranks " + std::to_string(steps) + "/" +
             std::to_string(all_steps) + " steps";
  }
  EXPECT_EQ(Sorted(trained), AllRecords(job)) << trace;
}

struct Fraction {
  int64_t num, den;
};
constexpr Fraction kFractions[] = {{0, 1}, {1, 4}, {1, 2}, {5, 6}, {1, 1}};

TEST(PlanStreamsResumeTest, OtherWorldSizeTrainsEveryRecordOnce) {
  const std::vector<std::vector<int>> chains = {{2, 3}, {3, 2}, {2, 3, 2}, {1, 4}, {4, 1, 3}};
  for (bool shuffle : {true, false}) {
    for (int64_t buffer : {int64_t{1}, int64_t{5}, int64_t{200}}) {
      const StreamJob job = TestJob(shuffle, buffer, 8);
      for (const std::vector<int>& chain : chains) {
        for (const Fraction& f : kFractions) {
          SCOPED_TRACE("shuffle " + std::to_string(shuffle) + " buffer " + std::to_string(buffer));
          ExpectExactlyOnce(job, chain, f.num, f.den);
        }
      }
    }
  }
}

TEST(PlanStreamsResumeTest, WorldAsLargeAsTheBatch) {
  const StreamJob job = TestJob(true, 3, 3);  // 3 ranks: local batches 1, 1, 1
  for (const Fraction& f : kFractions) {
    ExpectExactlyOnce(job, {3, 2}, f.num, f.den);
    ExpectExactlyOnce(job, {2, 3, 1}, f.num, f.den);
  }
}

TEST(PlanStreamsResumeTest, InMemoryStageTrainsEveryRecordOnce) {
  for (bool shuffle : {true, false}) {
    const StreamJob job = TestJob(shuffle, shuffle ? 5 : 1, 8);
    // 94 examples: 12 global batches of 8, the last one short.
    for (int64_t in_memory_steps : {0, 1, 5, 11, 12}) {
      ExpectExactlyOnce(job, {2}, 1, 1, in_memory_steps);
      ExpectExactlyOnce(job, {3, 2}, 1, 2, in_memory_steps);
      ExpectExactlyOnce(job, {1, 4}, 1, 4, in_memory_steps);
    }
  }
}

// The in-memory loader's shard sizes stop at the last file used; the job lists
// the files data.train_examples / validation_split leave unused with 0
// records. The in-memory stage's leftover is what its order over the used
// files had not reached.
TEST(PlanStreamsResumeTest, InMemoryStageIgnoresTrailingUnusedFiles) {
  StreamJob job = TestJob(true, 4, 16);
  job.shard_records = 10;
  job.splittable = {true, true, true, true};
  for (const std::vector<int64_t>& used :
       {std::vector<int64_t>{100, 100, 100}, std::vector<int64_t>{100, 60}}) {
    job.file_records = used;
    job.file_records.resize(4, 0);
    // Epochs whose shard shuffle over 4 shards orders the used ones otherwise.
    for (int64_t epoch : {0, 3}) {
      const std::vector<int64_t> order = EpochExampleOrder(job.seed, epoch, used, true);
      for (int64_t k : {1, 7, 10}) {
        StatusOr<StageStreams> streams = PlanStreams(job, epoch, {{0, k}}, 2);
        ASSERT_TRUE(streams.ok()) << streams.status();
        std::vector<int64_t> left;  // ids numbered file by file
        for (const RecordId& id : StreamRecords(*streams)) {
          left.push_back(id.file * 100 + id.record);
        }
        std::sort(left.begin(), left.end());
        std::vector<int64_t> expected(order.begin() + k * job.global_batch, order.end());
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(left, expected) << used.size() << " files, epoch " << epoch << ", " << k
                                  << " steps";
      }
    }
  }
}

// A compressed file is one shard, and its leftover (buffer slots, the rest)
// many pieces: they go to one rank, and every leftover stage's rank reads its
// pieces in file and record order, so no compressed file is decompressed
// again from its start, by another rank or the same one.
TEST(PlanStreamsResumeTest, LeftoverOfACompressedFileGoesToOneRankInOrder) {
  StreamJob job = TestJob(true, 16, 8);
  job.file_records = {40, 35, 50, 30, 45};
  job.splittable = {false, true, false, false, false};
  for (const Fraction& f : kFractions) {
    ExpectExactlyOnce(job, {2, 3}, f.num, f.den);
    ExpectExactlyOnce(job, {3, 2, 4}, f.num, f.den);
  }
  StatusOr<StageStreams> fresh = PlanStreams(job, 4, {}, 2);
  ASSERT_TRUE(fresh.ok());
  const int64_t steps = StreamSteps(fresh->RankExamples(), job.global_batch);
  for (int64_t trained : {int64_t{1}, steps / 3, steps / 2}) {
    StatusOr<StageStreams> streams = PlanStreams(job, 4, {{2, trained}}, 3);
    ASSERT_TRUE(streams.ok()) << streams.status();
    std::vector<int> reader(job.file_records.size(), -1);  // the rank reading each file
    size_t pieces = 0;
    for (int r = 0; r < 3; ++r) {
      const std::vector<RecordRange>& ranges = streams->ranks[static_cast<size_t>(r)].ranges;
      pieces += ranges.size();
      EXPECT_TRUE(std::is_sorted(ranges.begin(), ranges.end(),
                                 [](const RecordRange& a, const RecordRange& b) {
                                   return std::pair(a.file, a.first_record) <
                                          std::pair(b.file, b.first_record);
                                 }))
          << "rank " << r << " after " << trained << " steps";
      for (const RecordRange& range : ranges) {
        if (job.splittable[static_cast<size_t>(range.file)]) continue;
        int& rank = reader[static_cast<size_t>(range.file)];
        EXPECT_TRUE(rank == -1 || rank == r)
            << "file " << range.file << " on ranks " << rank << " and " << r;
        rank = r;
      }
    }
    EXPECT_GT(pieces, 5u) << "leftover of " << trained << " steps";  // buffer slots: many
  }
}

TEST(PlanStreamsResumeTest, LeftoverPiecesAreMergedAndNoLargerThanAShard) {
  const StreamJob job = TestJob(false, 1, 8);
  // Without shuffle two ranks read contiguous blocks; one step in, the
  // leftover is each block past its first 4 records.
  StatusOr<StageStreams> streams = PlanStreams(job, 0, {{2, 1}}, 3);
  ASSERT_TRUE(streams.ok());
  std::vector<RecordRange> pieces;
  for (const RankStream& rank : streams->ranks) {
    pieces.insert(pieces.end(), rank.ranges.begin(), rank.ranges.end());
  }
  EXPECT_EQ(pieces.front(), (RecordRange{0, 4, 2}));  // shard [0, 6) less 4 records
  for (const RecordRange& piece : pieces) {
    if (job.splittable[static_cast<size_t>(piece.file)]) {
      EXPECT_LE(piece.num_records, job.shard_records);
      EXPECT_EQ(piece.first_record / job.shard_records,
                (piece.first_record + piece.num_records - 1) / job.shard_records);
    }
  }
  EXPECT_EQ(StreamRecords(*streams).size(), 94u - 8u);
}

// A resumed stage deals pieces of splittable files one by one and the pieces
// of a compressed file together: ranks end within one such unit.
TEST(PlanStreamsResumeTest, ResumedStageBalancesWithinOneUnit) {
  const StreamJob job = TestJob(true, 5, 8);
  for (const std::vector<DataStage>& stages :
       {std::vector<DataStage>{{2, 3}}, std::vector<DataStage>{{0, 4}},
        std::vector<DataStage>{{3, 2}, {1, 5}}}) {
    StatusOr<StageStreams> streams = PlanStreams(job, 0, stages, 3);
    ASSERT_TRUE(streams.ok()) << streams.status().message();
    int64_t largest_unit = 0;
    for (const RankStream& rank : streams->ranks) {
      std::vector<int64_t> file_records(job.file_records.size(), 0);
      for (const RecordRange& piece : rank.ranges) {
        if (job.splittable[static_cast<size_t>(piece.file)]) {
          largest_unit = std::max(largest_unit, piece.num_records);
        } else {
          file_records[static_cast<size_t>(piece.file)] += piece.num_records;
        }
      }
      for (int64_t records : file_records) largest_unit = std::max(largest_unit, records);
    }
    EXPECT_LE(largest_unit, 17);
    const std::vector<int64_t> examples = streams->RankExamples();
    const auto [least, most] = std::minmax_element(examples.begin(), examples.end());
    EXPECT_LE(*most - *least, largest_unit) << stages.size() << " stages";
  }
}

TEST(PlanStreamsTest, RejectsBadWorldSizesAndStages) {
  const StreamJob job = TestJob(true, 5, 8);
  EXPECT_EQ(PlanStreams(job, 0, {}, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanStreams(job, 0, {}, -2).status().code(), StatusCode::kInvalidArgument);
  StatusOr<StageStreams> fresh = PlanStreams(job, 0, {}, 2);
  ASSERT_TRUE(fresh.ok());
  const int64_t steps = StreamSteps(fresh->RankExamples(), job.global_batch);
  EXPECT_TRUE(PlanStreams(job, 0, {{2, steps}}, 3).ok());
  EXPECT_EQ(PlanStreams(job, 0, {{2, steps + 1}}, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanStreams(job, 0, {{2, steps + 1}}, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanStreams(job, 0, {{2, -1}}, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanStreams(job, 0, {{-1, 1}}, 3).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanStreams(job, 0, {{2, 1}, {2, 1}}, 3).status().code(), StatusCode::kInvalidArgument);
  // The in-memory order: 94 examples are 12 batches of 8; it must come first.
  EXPECT_TRUE(PlanStreams(job, 0, {{0, 12}}, 2).ok());
  EXPECT_EQ(PlanStreams(job, 0, {{0, 13}}, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanStreams(job, 0, {{2, 1}, {0, 1}}, 3).status().code(), StatusCode::kInvalidArgument);
  StreamJob no_batch = job;
  no_batch.global_batch = 0;
  EXPECT_EQ(PlanStreams(no_batch, 0, {}, 2).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shardtrain::coordinator
