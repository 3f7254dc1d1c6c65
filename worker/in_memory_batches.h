// Training batches from a Dataset held in memory (data.in_memory: true, and
// the unit tests): an EpochPlan says which examples this rank takes at each
// step, and Next() copies those rows out of the Dataset.
//
// InMemoryBatches serves the steps of one EpochPlan: step s (within the
// epoch) has global_rows = min(global_batch, n - s * global_batch) over all
// ranks, this rank's rows are the plan's step_counts, at its step_offsets.
// InMemoryPlanner is the EpochPlanner of an in-memory job: a subclass says
// which examples each epoch takes (PlanExamples: the coordinator's
// assignment, or a local order in tests); the cursor is always empty.
// GatherRows and CheckDataset are the row copy and the shape check that the
// trainer's Evaluate/Predict share. The Dataset outlives the objects that
// point at it. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "worker/data/dataset.h"
#include "worker/epoch_plan.h"

namespace shardtrain {

// Copies examples `indices[0..rows)` of `dataset`: features into `x` (rows x
// feature_size) and targets into `class_ids` or `label_values` (rows x
// label_width), as the dataset has them (none for an unlabeled dataset).
void GatherRows(const data::Dataset& dataset, const int64_t* indices, int64_t rows, float* x,
                int32_t* class_ids, float* label_values);

// OK when `dataset` (the `split` split, named in errors) has examples of
// `input_size` values and, when `labeled`, targets of `label_width` values
// (0: class ids); else InvalidArgument saying what differs.
Status CheckDataset(const data::Dataset& dataset, const char* split, int64_t input_size,
                    int64_t label_width, bool labeled = true);

class InMemoryBatches : public EpochBatches {
 public:
  InMemoryBatches(const data::Dataset* dataset, EpochPlan plan, int64_t global_batch);

  int64_t steps_in_epoch() const override;
  int64_t first_step() const override { return plan_.first_step; }
  int64_t steps() const override { return static_cast<int64_t>(plan_.step_counts.size()); }
  StatusOr<StepRows> Next(float* x, int32_t* class_ids, float* label_values) override;
  const std::vector<DataStage>& cursor() const override { return no_stages_; }

 private:
  const data::Dataset* dataset_;
  EpochPlan plan_;
  int64_t global_batch_;
  int64_t step_ = 0;      // steps served, into plan_.step_counts
  int64_t next_row_ = 0;  // into plan_.example_ids
  std::vector<DataStage> no_stages_;
};

class InMemoryPlanner : public EpochPlanner {
 public:
  // `train` is the training split; each epoch is cut into global batches of
  // `global_batch` examples (the job's training.batch_size).
  InMemoryPlanner(const data::Dataset* train, int64_t global_batch)
      : train_(train), global_batch_(global_batch) {}

  // The stages are ignored: an in-memory epoch resumes from its position.
  StatusOr<std::unique_ptr<EpochBatches>> Plan(int64_t epoch, int64_t start_position,
                                               const std::vector<DataStage>& stages) final;
  int64_t epoch_examples() const final { return train_->num_examples; }
  Status CheckExamples(int64_t input_size, int64_t label_width) const final;

 protected:
  // This rank's examples of `epoch` from global position `start_position` (a
  // multiple of the global batch; 0 for a fresh epoch).
  virtual StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t start_position) = 0;

 private:
  const data::Dataset* train_;
  int64_t global_batch_;
};

}  // namespace shardtrain
