// The trainer's view of its training data: one epoch at a time, step by step.
//
// An EpochPlanner knows the job's training data and, for each epoch, hands
// the trainer an EpochBatches: this rank's part of the epoch, which fills the
// trainer's batch buffers with this rank's rows of each step in turn. Two
// implementations:
//   * in memory (worker/in_memory_batches.h): the Dataset is held by every
//     rank and each global batch of the epoch's example order (an EpochPlan)
//     is cut into world_size contiguous slices (coordinator/shard_planner.h),
//     so N ranks train on exactly the batches one rank would;
//   * streamed (worker/stream_batches.h): the coordinator assigns each rank
//     record ranges of the training files, read through a shuffle buffer;
//     rank r contributes StreamStepRows(...) rows to each step
//     (common/stream_order.h).
// Either way a step's rows over all ranks are `global_rows`, this rank's are
// rows [first_row, first_row + rows) of them, and a rank may have 0 rows.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "common/stream_order.h"

namespace shardtrain {

// Which examples of an in-memory Dataset this rank trains on in one epoch.
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

// This rank's rows of one step.
struct StepRows {
  int64_t rows = 0;         // this rank's rows (may be 0)
  int64_t first_row = 0;    // their first row within the step's global batch
  int64_t global_rows = 0;  // the step's rows over all ranks (> 0)
};

// This rank's part of one epoch, from where training of the epoch stands.
class EpochBatches {
 public:
  virtual ~EpochBatches() = default;
  // Steps of the whole epoch (what progress bars count to).
  virtual int64_t steps_in_epoch() const = 0;
  // The step within the epoch (0-based) that the first Next() serves.
  virtual int64_t first_step() const = 0;
  // Steps this object serves: Next() may be called this many times.
  virtual int64_t steps() const = 0;
  // Fills this rank's rows of the next step: features into `x` (rows x
  // features), targets into `class_ids` (class-id labels) or `label_values`
  // (rows x label width); the buffers hold a full local batch. Errors:
  // OutOfRange after steps() calls, DataLoss when the data ends early, and
  // whatever reading the data returns.
  virtual StatusOr<StepRows> Next(float* x, int32_t* class_ids, float* label_values) = 0;
  // The data cursor after the steps taken so far (a checkpoint's
  // TrainingProgress::data_stages): the epoch's stages, the current one last
  // counting its steps taken. Empty for in-memory data (the position alone
  // says where the epoch stands).
  virtual const std::vector<DataStage>& cursor() const = 0;
};

class EpochPlanner {
 public:
  virtual ~EpochPlanner() = default;
  // This rank's batches of `epoch` (0-based), after `start_position` examples
  // (all ranks) of it were trained, with data cursor `stages`
  // (TrainingProgress::data_stages; empty for a fresh epoch).
  virtual StatusOr<std::unique_ptr<EpochBatches>> Plan(int64_t epoch, int64_t start_position,
                                                       const std::vector<DataStage>& stages) = 0;
  // Examples per epoch, over all ranks.
  virtual int64_t epoch_examples() const = 0;
  // OK when the training examples suit a model of `input_size` input values
  // and targets of `label_width` values (0: class ids); InvalidArgument
  // naming what differs, or that there are no examples.
  virtual Status CheckExamples(int64_t input_size, int64_t label_width) const = 0;
};

// The data cursor to plan a streamed epoch from: `stages`, or, for a
// checkpoint written without one (by the in-memory loader, or before cursors
// were saved) `position` examples into the epoch, the in-memory order's
// [{0, steps trained}], which the coordinator's stream planner understands
// (coordinator/stream_plan.h). The steps round up: an in-memory epoch's last
// step may be short, so its position need not be a multiple of the batch.
inline std::vector<DataStage> StagesToResume(const std::vector<DataStage>& stages, int64_t position,
                                             int64_t global_batch) {
  if (!stages.empty() || position <= 0) return stages;
  return {DataStage{0, (position + global_batch - 1) / global_batch}};
}

}  // namespace shardtrain
