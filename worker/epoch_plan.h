// EpochPlan: which examples this rank trains on in one epoch, step by step.
//
// Every global batch of the epoch is cut into world_size contiguous slices
// (coordinator/shard_planner.h), so N ranks train on exactly the batches one
// rank would, and each example is seen once per epoch. The trainer asks an
// EpochPlanner for each epoch; `shardtrain train`'s planner gets it from the
// job's coordinator (cli/control_plane.h, CoordinatorPlanner).
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace shardtrain {

struct EpochPlan {
  int64_t epoch = 0;       // 0-based
  int64_t first_step = 0;  // step within the epoch of step_counts[0]
  // This rank's examples (indices into the dataset) for all its steps, in order.
  std::vector<int64_t> example_ids;
  // Rows this rank contributes to each step (0 when the last batch is short).
  std::vector<int32_t> step_counts;
  // This rank's first row within each step's global batch (keys dropout masks).
  std::vector<int32_t> step_offsets;
};

class EpochPlanner {
 public:
  virtual ~EpochPlanner() = default;
  // The plan of `epoch` from global position `start_position` (a multiple of
  // the global batch; 0 for a fresh epoch).
  virtual StatusOr<EpochPlan> Plan(int64_t epoch, int64_t start_position) = 0;
};

}  // namespace shardtrain
