// Trainer: Keras fit() on one rank of a data-parallel job — the step loop
// (forward, loss, backward on this rank's rows of the global batch, gradient
// sum over ranks, optimizer), validation after each epoch, and the callbacks.
//
// Training data: Fit() asks an EpochPlanner (worker/epoch_plan.h) for each
// epoch's batches and takes one step per EpochBatches::Next(), which fills the
// trainer's batch buffers with this rank's rows of the step. Two data paths:
//   * in memory (worker/in_memory_batches.h): every rank holds the training
//     Dataset and takes its contiguous slice of each global batch of the
//     epoch's example order, so N ranks train on exactly the batches one rank
//     would; the position alone says where an epoch stands;
//   * streamed (worker/stream_batches.h): each rank reads the record ranges
//     the coordinator assigned it through a shuffle buffer and contributes
//     StreamStepRows rows to each step; the data cursor (progress().
//     data_stages) says where the epoch stands, and checkpoints save it.
// Validation, Evaluate and Predict read in-memory Datasets.
//
// Data parallelism: each rank scales its loss gradient by 1 / (rows of the
// whole global batch), so the sum over ranks is the global mean; a rank with
// no rows in a step contributes zeros (and joins the sums of synchronized
// BatchNormalization layers, which normalize with the global batch's
// statistics: Model::SetCrossRankSum). Every rank applies the same update to
// the same parameters (broadcast from rank 0 at the start of Fit), so they
// stay identical; when the ranks share one node, each float's update runs
// only on its owner rank and the result is shared (SlicedOptimizerStep, same
// bits). Metrics are global: each rank accumulates the metric sums
// of its examples (worker/metrics), and they are summed over ranks before any
// value is computed from them.
//
// Device memory: the parameters, gradients, optimizer slots, activations, the
// loss gradient and the batches live in the backend's device memory (on the
// CPU backend that is host memory, read in place: no copies). Each batch is
// gathered into pinned host memory and uploaded on Stream::kCopy while the
// previous step computes (DeviceBatches). Where the host cannot read device
// memory, the gradients are summed through GradientReducer's pinned buckets
// (mpi) or on the device (nccl), and the one-node shared-memory window and
// sliced update are off. A step waits for the device only where it needs a
// value on the host:
//   * the loss sum, the correct count and the metric sums of its rows (one
//     copy back each; Loss::Compute, MetricSet), which the callbacks log after
//     every step;
//   * kernel regularizers' penalty, BatchNormalization's moving statistics and
//     synchronized sums, staged through the model's pinned buffer;
//   * with a host communicator, each gradient bucket's copy to pinned memory
//     before its sum (GradientReducer);
//   * before gathering into a batch slot, the upload of two steps ago from its
//     pinned buffers (already done in practice).
// Evaluate waits likewise per batch, and Predict for each batch's outputs.
// Evaluate and Predict use the batch slots too, so a batch callback must not
// call them (they would overwrite the batch read ahead for the next step).
//
// Determinism: every random choice (initialization, shuffling, dropout) is a
// Philox draw keyed by the job seed, so the same config, seed, data and world
// size give bitwise-identical losses. Buffers are allocated once in Create();
// a step does not allocate. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/callbacks/callback.h"
#include "worker/callbacks/callback_state.h"
#include "worker/comm/communicator.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/data/dataset.h"
#include "worker/device_batches.h"
#include "worker/epoch_plan.h"
#include "worker/loss/loss.h"
#include "worker/loss/targets.h"
#include "worker/metrics/metric_set.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"
#include "worker/sliced_optimizer_step.h"

namespace shardtrain {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;  // computed whatever the job's metrics are
  int64_t examples = 0;
  metrics::Logs metrics;  // the job's metrics (name, value), in configured order

  // Whether the job's metrics include "accuracy", so that it is reported (as
  // Keras's evaluate reports the loss and the compiled metrics only).
  bool logs_accuracy() const {
    for (const auto& entry : metrics) {
      if (entry.first == "accuracy") return true;
    }
    return false;
  }
};

// The global totals of one training step.
struct StepResult {
  double loss_sum = 0;
  int64_t examples = 0;
  int64_t correct = 0;
  // The step's metric sums (MetricSet::num_sums() values), valid until the next Step.
  const double* metric_sums = nullptr;
};

// Where training stands: with the parameters and optimizer state, enough to
// resume exactly (the data order and dropout masks are functions of the seed,
// epoch and step).
struct TrainingProgress {
  int64_t epoch = 0;           // 0-based epoch being trained (== epochs when all are done)
  int64_t position = 0;        // examples of `epoch` already trained on, over all ranks
  int64_t global_step = 0;     // optimizer steps so far
  double epoch_loss_sum = 0;   // global sums over the epoch's steps so far
  int64_t epoch_correct = 0;
  int64_t epoch_examples = 0;
  // The job's metric sums over the epoch's steps so far (global; MetricSet
  // layout); empty until the epoch's first step. Checkpoints hold them (when
  // non-empty), so a mid-epoch resume reports the same epoch-end metrics.
  std::vector<double> epoch_metric_sums = {};
  // The streamed data cursor of `epoch` (EpochBatches::cursor(): its stages,
  // the current one last); empty for in-memory data and at an epoch's start.
  // Checkpoints hold it (when non-empty); Fit plans the epoch from it.
  std::vector<DataStage> data_stages = {};
};

class Trainer {
 public:
  // `config` must have passed ValidateJobConfig. `backend` and `comm` outlive
  // the trainer; `comm` null means a single process.
  static StatusOr<std::unique_ptr<Trainer>> Create(const config::JobConfig& config,
                                                   kernels::KernelBackend* backend,
                                                   comm::Communicator* comm = nullptr,
                                                   int64_t bucket_bytes =
                                                       comm::GradientReducer::kDefaultBucketBytes);

  // Trains config.training.epochs epochs on the training data of `planner`,
  // taking each epoch's batches from it, and validates on `val` after each
  // (null: no validation data, epochs log no val_* entries). Checks the
  // training and validation examples against the model first. Every rank
  // calls it.
  Status Fit(EpochPlanner* planner, const data::Dataset* val,
             const std::vector<callbacks::Callback*>& callbacks);

  // Makes the next Fit() continue from `progress` (restored from a checkpoint
  // together with the parameters and optimizer state).
  void ResumeFrom(const TrainingProgress& progress);
  // Where training stands; callbacks read it (after a BatchEnd: the step just
  // taken; after an EpochEnd: the start of the next epoch).
  const TrainingProgress& progress() const { return progress_; }
  // Asks Fit() to return OK after the current callbacks (Keras's
  // model.stop_training); stopped() then says so.
  void RequestStop() { stop_requested_ = true; }
  bool stopped() const { return stopped_; }

  // Mean loss, accuracy and the job's metrics over `dataset` (inference: no
  // dropout); with several ranks each evaluates a slice and the sums are reduced.
  StatusOr<EvalResult> Evaluate(const data::Dataset& dataset);

  // The model's outputs (batch, classes) for every example of `dataset`, in
  // order (inference: no dropout; the last layer's activation applied as the
  // model defines it, so logits for a from-logits classifier). This rank only.
  StatusOr<std::vector<float>> Predict(const data::Dataset& dataset);

  // One optimizer step on this rank's rows of a step, already gathered: `x`
  // (rows.rows x model input) and their `targets` are rows
  // [first_row, first_row + rows) of a global batch of rows.global_rows.
  // Sums gradients and metrics over ranks, then updates the parameters.
  // `targets` go to the loss and the metrics, which take device memory of the
  // backend (host memory on the CPU backend).
  Status Step(const float* x, const loss::Targets& targets, const StepRows& rows,
              StepResult* result);

  // Copies rank 0's parameters to every rank.
  Status BroadcastParameters();

  model::Model& model() { return *model_; }
  // The optimizer, its slot buffers current (they lag between steps when the
  // sliced step runs). Not collective.
  optimizer::Optimizer& optimizer();
  int64_t global_step() const { return progress_.global_step; }
  // What stateful callbacks (EarlyStopping, ReduceLROnPlateau) keep across a
  // resume: checkpoints save it and a resume restores it (callback_state.h).
  callbacks::CallbackState& callback_state() { return callback_state_; }
  const callbacks::CallbackState& callback_state() const { return callback_state_; }

 private:
  using Clock = std::chrono::steady_clock;
  callbacks::CallbackState callback_state_;  // see callback_state()

  Trainer() = default;
  // The OnTrainBegin description of training on `train_examples` examples
  // per epoch, validating on `val`; its steps per epoch are `first_epoch`'s
  // (the first epoch's batches; null when none is left to train).
  callbacks::TrainBegin DescribeTraining(int64_t train_examples, const EpochBatches* first_epoch,
                                         const data::Dataset* val) const;
  // Takes the steps of `batches` (of 0-based `epoch`, begun at `epoch_start`),
  // calling OnBatchEnd after each, until they end or a stop is requested.
  // `*session_seen` counts the examples trained on (all ranks).
  Status TrainEpochSteps(EpochBatches& batches, int64_t epoch, Clock::time_point epoch_start,
                         const std::vector<callbacks::Callback*>& callbacks,
                         int64_t* session_seen);
  // Validates on `val` (unless null) and calls OnEpochEnd for the end of
  // `epoch`, begun at `epoch_start`; progress_ moves to the next epoch.
  Status EndEpoch(int64_t epoch, int64_t steps_in_epoch, const data::Dataset* val,
                  Clock::time_point epoch_start, Clock::time_point fit_start,
                  int64_t session_seen, const std::vector<callbacks::Callback*>& callbacks);
  // Keras's logs of the epoch trained so far: "loss", then the job's metrics.
  metrics::Logs TrainingLogs() const;
  // InvalidArgument when training would fuse the loss with a final softmax
  // that an active Dropout follows (Model::ActiveDropoutAfterFinalActivation).
  Status CheckTrainableHead() const;
  // Adds a step's global totals to progress_.
  void AddToEpoch(const StepResult& step);
  // Gathers the given examples of `dataset` into batch slot `slot` (their
  // targets too, when it has some) and uploads them to the device.
  Status GatherBatch(const data::Dataset& dataset, const int64_t* indices, int64_t rows, int slot);
  // A step's batch, read into a batch slot: its rows (or the error reading
  // them) and the data cursor after it.
  struct PendingBatch {
    StatusOr<StepRows> rows = StepRows{};
    std::vector<DataStage> cursor;
  };
  // Reads the next step of `batches` into batch slot `slot` and uploads it
  // (into `*batch`); an error is the device's, met waiting for the slot.
  Status ReadBatch(EpochBatches& batches, int slot, PendingBatch* batch);
  // BroadcastParameters through a host copy (a host communicator over
  // device memory the host cannot read).
  Status BroadcastParametersThroughHost();
  // `dataset` has examples of the model's input size and, when `labeled`,
  // targets of the job's label kind.
  Status CheckDataset(const data::Dataset& dataset, const char* split, bool labeled = true) const;
  int rank() const { return comm_->rank(); }
  int world_size() const { return comm_->world_size(); }

  config::JobConfig config_;
  kernels::KernelBackend* backend_ = nullptr;
  std::unique_ptr<comm::Communicator> owned_comm_;  // a LocalCommunicator when none is given
  comm::Communicator* comm_ = nullptr;
  std::unique_ptr<comm::GradientReducer> reducer_;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<optimizer::Optimizer> optimizer_;
  std::unique_ptr<SlicedOptimizerStep> sliced_step_;  // null: the replicated step
  std::unique_ptr<loss::Loss> loss_;
  std::unique_ptr<metrics::MetricSet> metrics_;
  int64_t batch_size_ = 0;
  TrainingProgress progress_;
  bool stop_requested_ = false;
  bool stopped_ = false;
  // The batches the steps, Evaluate and Predict read, in two slots so that
  // the upload of one overlaps the compute on the other (device_batches.h).
  DeviceBatches batch_slots_;
  int64_t label_width_ = 0;            // the job's VECTOR label size; 0 = class ids
  kernels::DeviceBuffer grad_output_;  // (max_batch, outputs)
  std::vector<double> step_metric_sums_;  // (metrics_->num_sums())
};

}  // namespace shardtrain
