// The shard planner: hand-checked tables, exactly-once coverage for any world
// size and start position, independence of the batches from the world size.
#include "coordinator/shard_planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace shardtrain::coordinator {
namespace {

TEST(SliceOfBatchTest, Table) {
  struct Case {
    int64_t rows;
    int world;
    std::vector<std::pair<int64_t, int64_t>> slices;  // (offset, count) per rank
  };
  const Case cases[] = {
      {10, 3, {{0, 4}, {4, 3}, {7, 3}}},
      {2, 3, {{0, 1}, {1, 1}, {2, 0}}},
      {64, 2, {{0, 32}, {32, 32}}},
      {7, 1, {{0, 7}}},
      {0, 2, {{0, 0}, {0, 0}}},
  };
  for (const Case& c : cases) {
    for (int r = 0; r < c.world; ++r) {
      RankSlice slice = SliceOfBatch(c.rows, r, c.world);
      EXPECT_EQ(slice.offset, c.slices[r].first) << c.rows << " rows, rank " << r;
      EXPECT_EQ(slice.count, c.slices[r].second) << c.rows << " rows, rank " << r;
    }
  }
}

TEST(AssignEpochTest, HandCheckedTenExamplesBatchFourThreeRanks) {
  // Unshuffled: batches [0..4) [4..8) [8..10); the last one is cut 1/1/0.
  const std::vector<int64_t> shards = {6, 4};
  RankAssignment r0 = AssignEpoch(1, 0, shards, false, 4, 0, 0, 3);
  RankAssignment r1 = AssignEpoch(1, 0, shards, false, 4, 0, 1, 3);
  RankAssignment r2 = AssignEpoch(1, 0, shards, false, 4, 0, 2, 3);
  EXPECT_EQ(r0.example_ids, (std::vector<int64_t>{0, 1, 4, 5, 8}));
  EXPECT_EQ(r0.step_counts, (std::vector<int32_t>{2, 2, 1}));
  EXPECT_EQ(r0.step_offsets, (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(r1.example_ids, (std::vector<int64_t>{2, 6, 9}));
  EXPECT_EQ(r1.step_counts, (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(r1.step_offsets, (std::vector<int32_t>{2, 2, 1}));
  EXPECT_EQ(r2.example_ids, (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(r2.step_counts, (std::vector<int32_t>{1, 1, 0}));
  EXPECT_EQ(r2.step_offsets, (std::vector<int32_t>{3, 3, 2}));
  EXPECT_EQ(r0.first_step, 0);
  // From position 8 only the last batch is left.
  RankAssignment late = AssignEpoch(1, 0, shards, false, 4, 8, 0, 3);
  EXPECT_EQ(late.first_step, 2);
  EXPECT_EQ(late.example_ids, (std::vector<int64_t>{8}));
}

TEST(AssignEpochTest, EveryExampleExactlyOnceForAnyWorldSize) {
  const std::vector<int64_t> shards = {13, 7, 1, 20};  // 41 examples
  for (int64_t start : {0, 10, 40}) {
    for (int world = 1; world <= 5; ++world) {
      std::vector<int64_t> seen;
      for (int r = 0; r < world; ++r) {
        RankAssignment a = AssignEpoch(9, 3, shards, true, 10, start, r, world);
        int64_t total = std::accumulate(a.step_counts.begin(), a.step_counts.end(), int64_t{0});
        EXPECT_EQ(total, static_cast<int64_t>(a.example_ids.size()));
        seen.insert(seen.end(), a.example_ids.begin(), a.example_ids.end());
      }
      std::vector<int64_t> expected = EpochExampleOrder(9, 3, shards, true);
      expected.erase(expected.begin(), expected.begin() + start);
      std::sort(seen.begin(), seen.end());
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(seen, expected) << "world " << world << " start " << start;
    }
  }
}

TEST(AssignEpochTest, GlobalBatchesDoNotDependOnWorldSize) {
  const std::vector<int64_t> shards = {30, 35};
  const std::vector<int64_t> order = EpochExampleOrder(4, 1, shards, true);
  for (int world = 1; world <= 4; ++world) {
    std::vector<RankAssignment> ranks;
    for (int r = 0; r < world; ++r) ranks.push_back(AssignEpoch(4, 1, shards, true, 16, 0, r, world));
    std::vector<size_t> cursor(static_cast<size_t>(world), 0);
    for (size_t step = 0; step < ranks[0].step_counts.size(); ++step) {
      std::vector<int64_t> batch;
      for (int r = 0; r < world; ++r) {
        EXPECT_EQ(ranks[r].step_offsets[step], static_cast<int32_t>(batch.size()));
        for (int32_t i = 0; i < ranks[r].step_counts[step]; ++i) {
          batch.push_back(ranks[r].example_ids[cursor[r]++]);
        }
      }
      std::vector<int64_t> expected(order.begin() + static_cast<int64_t>(step) * 16,
                                    order.begin() + std::min<int64_t>(65, (step + 1) * 16));
      EXPECT_EQ(batch, expected) << "world " << world << " step " << step;
    }
  }
}

TEST(EpochExampleOrderTest, ShufflesAllExamplesDeterministically) {
  const std::vector<int64_t> shards = {100, 100, 100};
  std::vector<int64_t> a = EpochExampleOrder(1, 0, shards, true);
  EXPECT_EQ(a, EpochExampleOrder(1, 0, shards, true));
  EXPECT_NE(a, EpochExampleOrder(1, 1, shards, true));
  EXPECT_NE(a, EpochExampleOrder(2, 0, shards, true));
  std::vector<int64_t> identity(300);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(EpochExampleOrder(1, 0, shards, false), identity);
  EXPECT_NE(a, identity);
  // Shards mix, as Keras fit shuffles arrays: class-sorted shards (here one
  // class each) give every batch of 30 examples of every class.
  for (int batch = 0; batch < 10; ++batch) {
    std::vector<int> per_shard(3, 0);
    for (int i = 0; i < 30; ++i) ++per_shard[static_cast<size_t>(a[batch * 30 + i] / 100)];
    for (int shard = 0; shard < 3; ++shard) {
      EXPECT_GT(per_shard[static_cast<size_t>(shard)], 0)
          << "batch " << batch << " shard " << shard;
    }
  }
  std::sort(a.begin(), a.end());
  EXPECT_EQ(a, identity);
}

}  // namespace
}  // namespace shardtrain::coordinator
