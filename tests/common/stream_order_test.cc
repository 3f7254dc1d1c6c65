// Streamed-epoch arithmetic (common/stream_order.h): ShuffleOrder emits every
// input position exactly once for any capacity, is deterministic, and its
// state after k draws accounts for every position; step rows and steps on
// hand-computed cases.
#include "common/stream_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

namespace shardtrain {
namespace {

std::vector<int64_t> Emitted(uint64_t seed, uint64_t stream, int64_t capacity, int64_t n) {
  ShuffleOrder order(seed, stream, capacity, n);
  std::vector<int64_t> out;
  for (ShuffleOrder::Draw draw = order.Next(); draw.slot >= 0; draw = order.Next()) {
    out.push_back(draw.position);
  }
  return out;
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

TEST(ShuffleOrderTest, EmitsEachPositionExactlyOnce) {
  const int64_t n = 37;
  for (int64_t capacity : {int64_t{1}, int64_t{2}, int64_t{7}, n, n + 5, int64_t{1000}}) {
    std::vector<int64_t> emitted = Emitted(11, 3, capacity, n);
    std::sort(emitted.begin(), emitted.end());
    EXPECT_EQ(emitted, Iota(n)) << "capacity " << capacity;
  }
}

TEST(ShuffleOrderTest, EmptyInputEndsAtOnce) {
  for (int64_t capacity : {int64_t{1}, int64_t{4}}) {
    ShuffleOrder order(1, 2, capacity, 0);
    EXPECT_EQ(order.filled(), 0);
    EXPECT_EQ(order.next_input(), 0);
    const ShuffleOrder::Draw draw = order.Next();
    EXPECT_EQ(draw.slot, -1);
    EXPECT_EQ(draw.position, -1);
    EXPECT_EQ(order.emitted(), 0);
  }
}

TEST(ShuffleOrderTest, CapacityOneIsIdentity) {
  EXPECT_EQ(Emitted(5, 9, 1, 20), Iota(20));
  EXPECT_EQ(Emitted(5, 9, 0, 20), Iota(20));  // capacity < 1 acts as 1
}

TEST(ShuffleOrderTest, LargerCapacityShuffles) {
  EXPECT_NE(Emitted(5, 9, 8, 50), Iota(50));
  EXPECT_NE(Emitted(5, 9, 100, 50), Iota(50));
}

TEST(ShuffleOrderTest, DeterministicAndKeyed) {
  EXPECT_EQ(Emitted(7, StreamShuffleKey(2, 0, 1), 16, 200),
            Emitted(7, StreamShuffleKey(2, 0, 1), 16, 200));
  EXPECT_NE(Emitted(7, StreamShuffleKey(2, 0, 1), 16, 200),
            Emitted(8, StreamShuffleKey(2, 0, 1), 16, 200));
  EXPECT_NE(Emitted(7, StreamShuffleKey(2, 0, 1), 16, 200),
            Emitted(7, StreamShuffleKey(3, 0, 1), 16, 200));
  EXPECT_NE(Emitted(7, StreamShuffleKey(2, 0, 1), 16, 200),
            Emitted(7, StreamShuffleKey(2, 1, 1), 16, 200));
  EXPECT_NE(Emitted(7, StreamShuffleKey(2, 0, 1), 16, 200),
            Emitted(7, StreamShuffleKey(2, 0, 0), 16, 200));
}

TEST(ShuffleOrderTest, StreamKeysAreDistinct) {
  std::set<uint64_t> keys;
  for (int64_t epoch : {0, 1, 7}) {
    for (int64_t stage : {0, 1, 2}) {
      for (int rank : {0, 1, 2, 63}) keys.insert(StreamShuffleKey(epoch, stage, rank));
    }
  }
  EXPECT_EQ(keys.size(), 3u * 3u * 4u);
}

// After k draws, the emitted positions, the slots and [next_input, n) are
// disjoint and cover 0..n-1; the draws report what happened to the slots.
TEST(ShuffleOrderTest, ReplayStateIsConsistent) {
  const int64_t n = 53, capacity = 9;
  for (int64_t k = 0; k <= n; ++k) {
    ShuffleOrder order(3, StreamShuffleKey(1, 0, 2), capacity, n);
    std::vector<int64_t> seen;
    for (int64_t i = 0; i < k; ++i) {
      const std::vector<int64_t> before = order.slots();
      const ShuffleOrder::Draw draw = order.Next();
      ASSERT_GE(draw.slot, 0);
      ASSERT_EQ(draw.position, before[static_cast<size_t>(draw.slot)]);
      if (draw.refill >= 0) {
        EXPECT_EQ(order.slots()[static_cast<size_t>(draw.slot)], draw.refill);
      } else if (draw.moved_from != draw.slot) {
        EXPECT_EQ(order.slots()[static_cast<size_t>(draw.slot)],
                  before[static_cast<size_t>(draw.moved_from)]);
      }
      seen.push_back(draw.position);
    }
    EXPECT_EQ(order.emitted(), k);
    EXPECT_EQ(order.filled(), std::min(capacity, n - k));
    seen.insert(seen.end(), order.slots().begin(), order.slots().end());
    for (int64_t p = order.next_input(); p < n; ++p) seen.push_back(p);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, Iota(n)) << "after " << k << " draws";
  }
}

// A replay continued from the middle emits what a full run emits after it.
TEST(ShuffleOrderTest, ReplayPrefixMatchesFullRun) {
  const std::vector<int64_t> full = Emitted(4, 77, 6, 40);
  ShuffleOrder order(4, 77, 6, 40);
  for (int i = 0; i < 15; ++i) order.Next();
  std::vector<int64_t> rest;
  for (ShuffleOrder::Draw draw = order.Next(); draw.slot >= 0; draw = order.Next()) {
    rest.push_back(draw.position);
  }
  EXPECT_EQ(rest, std::vector<int64_t>(full.begin() + 15, full.end()));
}

TEST(StreamStepRowsTest, LocalBatchRows) {
  // 10 rows on 3 ranks: 4, 3, 3; 2 rows on 3 ranks: 1, 1, 0.
  EXPECT_EQ(LocalBatchRows(10, 0, 3), 4);
  EXPECT_EQ(LocalBatchRows(10, 1, 3), 3);
  EXPECT_EQ(LocalBatchRows(10, 2, 3), 3);
  EXPECT_EQ(LocalBatchRows(2, 0, 3), 1);
  EXPECT_EQ(LocalBatchRows(2, 2, 3), 0);
  EXPECT_EQ(LocalBatchRows(8, 0, 1), 8);
  EXPECT_EQ(LocalBatchRows(8, 0, 0), 0);
}

std::vector<std::vector<int64_t>> RowTable(const std::vector<int64_t>& examples,
                                           int64_t global_batch) {
  std::vector<std::vector<int64_t>> table;
  const int64_t steps = StreamSteps(examples, global_batch);
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> rows;
    for (int r = 0; r < static_cast<int>(examples.size()); ++r) {
      rows.push_back(StreamStepRows(examples, global_batch, r, s));
    }
    table.push_back(rows);
  }
  return table;
}

TEST(StreamStepRowsTest, UnevenRanks) {
  // Batch 10 on 3 ranks: local batches 4, 3, 3. Rank 0 holds 9 (4, 4, 1),
  // rank 1 holds 10 (3, 3, 3, 1), rank 2 holds 5 (3, 2): 4 steps.
  EXPECT_EQ(StreamSteps({9, 10, 5}, 10), 4);
  const std::vector<std::vector<int64_t>> expected = {{4, 3, 3}, {4, 3, 2}, {1, 3, 0}, {0, 1, 0}};
  EXPECT_EQ(RowTable({9, 10, 5}, 10), expected);
}

TEST(StreamStepRowsTest, RankWithNoExamples) {
  // Batch 4 on 2 ranks (2, 2): rank 0 holds 5, rank 1 nothing.
  EXPECT_EQ(StreamSteps({5, 0}, 4), 3);
  const std::vector<std::vector<int64_t>> expected = {{2, 0}, {2, 0}, {1, 0}};
  EXPECT_EQ(RowTable({5, 0}, 4), expected);
  EXPECT_EQ(StreamSteps({0, 0}, 4), 0);
  EXPECT_EQ(StreamSteps({}, 4), 0);
}

TEST(StreamStepRowsTest, WorldLargerThanBatch) {
  // Batch 2 on 3 ranks (1, 1, 0): rank 2's local batch is 0, so it never
  // contributes and does not count towards the steps.
  EXPECT_EQ(StreamSteps({3, 2, 0}, 2), 3);
  const std::vector<std::vector<int64_t>> expected = {{1, 1, 0}, {1, 1, 0}, {1, 0, 0}};
  EXPECT_EQ(RowTable({3, 2, 0}, 2), expected);
  EXPECT_EQ(StreamStepRows({3, 2, 4}, 2, 2, 0), 0);
}

TEST(StreamStepRowsTest, OutOfRangeRankAndStep) {
  EXPECT_EQ(StreamStepRows({3, 3}, 4, -1, 0), 0);
  EXPECT_EQ(StreamStepRows({3, 3}, 4, 2, 0), 0);
  EXPECT_EQ(StreamStepRows({3, 3}, 4, 0, 5), 0);
}

// Rows over all steps add up to every rank's examples (for ranks that have a
// local batch), and each step's rows never exceed the local batch.
TEST(StreamStepRowsTest, RowsCoverEveryExample) {
  const std::vector<int64_t> examples = {17, 0, 33, 5, 12};
  for (int64_t batch : {1, 3, 5, 8, 64}) {
    const int world = static_cast<int>(examples.size());
    const int64_t steps = StreamSteps(examples, batch);
    for (int r = 0; r < world; ++r) {
      int64_t sum = 0;
      for (int64_t s = 0; s < steps; ++s) {
        const int64_t rows = StreamStepRows(examples, batch, r, s);
        EXPECT_LE(rows, LocalBatchRows(batch, r, world));
        sum += rows;
      }
      const bool has_batch = LocalBatchRows(batch, r, world) > 0;
      EXPECT_EQ(sum, has_batch ? examples[static_cast<size_t>(r)] : 0)
          << "batch " << batch << " rank " << r;
    }
  }
}

}  // namespace
}  // namespace shardtrain
