#include "coordinator/shard_planner.h"

#include <algorithm>
#include <numeric>

#include "common/philox.h"

namespace shardtrain::coordinator {
namespace {

// The Philox stream of the example order (dropout uses layer indices,
// initializers variable indices, both far below it).
constexpr uint32_t kExampleOrderStream = 0x45584F52u;  // "EXOR"

// Fisher–Yates over `values` with Philox(seed, step=epoch, stream) bits;
// Lemire's multiply-shift maps 32 bits onto [0, i].
void Shuffle(std::vector<int64_t>* values, uint64_t seed, int64_t epoch, uint32_t stream) {
  for (int64_t i = static_cast<int64_t>(values->size()) - 1; i > 0; --i) {
    const uint32_t bits =
        PhiloxBits(seed, static_cast<uint64_t>(epoch), stream, static_cast<uint64_t>(i));
    const int64_t j =
        static_cast<int64_t>((static_cast<uint64_t>(bits) * static_cast<uint64_t>(i + 1)) >> 32);
    std::swap((*values)[static_cast<size_t>(i)], (*values)[static_cast<size_t>(j)]);
  }
}

}  // namespace

std::vector<int64_t> EpochExampleOrder(uint64_t seed, int64_t epoch,
                                       const std::vector<int64_t>& shard_sizes, bool shuffle) {
  int64_t total = 0;
  for (int64_t size : shard_sizes) total += size;
  std::vector<int64_t> order(static_cast<size_t>(total));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (shuffle) Shuffle(&order, seed, epoch, kExampleOrderStream);
  return order;
}

RankSlice SliceOfBatch(int64_t batch_rows, int rank, int world_size) {
  const int64_t base = batch_rows / world_size, extra = batch_rows % world_size;
  return RankSlice{rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

RankAssignment AssignEpoch(uint64_t seed, int64_t epoch, const std::vector<int64_t>& shard_sizes,
                           bool shuffle, int64_t global_batch, int64_t start_position, int rank,
                           int world_size) {
  const std::vector<int64_t> order = EpochExampleOrder(seed, epoch, shard_sizes, shuffle);
  const int64_t total = static_cast<int64_t>(order.size());
  RankAssignment assignment;
  assignment.epoch = epoch;
  // The epoch's end after a partial last batch is past its last step too.
  assignment.first_step = (start_position + global_batch - 1) / global_batch;
  for (int64_t position = start_position; position < total; position += global_batch) {
    const int64_t rows = std::min(global_batch, total - position);
    const RankSlice slice = SliceOfBatch(rows, rank, world_size);
    assignment.example_ids.insert(assignment.example_ids.end(),
                                  order.begin() + position + slice.offset,
                                  order.begin() + position + slice.offset + slice.count);
    assignment.step_counts.push_back(static_cast<int32_t>(slice.count));
    assignment.step_offsets.push_back(static_cast<int32_t>(slice.offset));
  }
  return assignment;
}

}  // namespace shardtrain::coordinator
