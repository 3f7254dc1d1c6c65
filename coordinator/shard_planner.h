// Shard planner: which examples each rank trains on, as a pure function of
// (seed, epoch, shard sizes, shuffle, global batch, start position, rank,
// world size). DESIGN.md §4, with one refinement: the cut is made per *global
// batch*, not per epoch, so N ranks train on exactly the batches one rank
// would (1-vs-N equivalence) and a job resumed on another world size only has
// to re-cut the batches that are left.
//
// Example ids: record j of shard s has id sum(shard_sizes[0..s)) + j.
// Thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <vector>

namespace shardtrain::coordinator {

// The epoch's global example order. With shuffle: a Philox permutation of all
// the examples keyed by (seed, epoch), as Keras fit shuffles in-memory data
// (each global batch draws from every shard). Without: 0..n-1.
std::vector<int64_t> EpochExampleOrder(uint64_t seed, int64_t epoch,
                                       const std::vector<int64_t>& shard_sizes, bool shuffle);

// Rank `rank`'s contiguous part of a batch of `batch_rows` rows: the first
// batch_rows % world_size ranks get one extra row. A rank may get 0 rows.
struct RankSlice {
  int64_t offset = 0;
  int64_t count = 0;
};
RankSlice SliceOfBatch(int64_t batch_rows, int rank, int world_size);

// One rank's examples for the steps of an epoch from `start_position` (a
// multiple of global_batch, or the epoch's example count: no steps) to its end.
struct RankAssignment {
  int64_t epoch = 0;
  int64_t first_step = 0;              // start_position / global_batch, rounded up
  std::vector<int64_t> example_ids;    // this rank's ids, step after step
  std::vector<int32_t> step_counts;    // this rank's rows in each step
  std::vector<int32_t> step_offsets;   // its first row within each global batch
};
RankAssignment AssignEpoch(uint64_t seed, int64_t epoch, const std::vector<int64_t>& shard_sizes,
                           bool shuffle, int64_t global_batch, int64_t start_position, int rank,
                           int world_size);

}  // namespace shardtrain::coordinator
