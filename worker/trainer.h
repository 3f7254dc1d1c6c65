// Trainer: Keras fit() for one process — the step loop over shuffled batches
// (forward, loss, backward, optimizer), validation after each epoch, and the
// callbacks (progress, metrics log).
//
// Determinism: every random choice (initialization, shuffling, dropout) is a
// Philox draw keyed by the job seed, so the same config, seed and data give
// bitwise-identical losses. Buffers are allocated once in Create(); a step
// does not allocate. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/callbacks/callback.h"
#include "worker/data/dataset.h"
#include "worker/loss/loss.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  int64_t examples = 0;
};

class Trainer {
 public:
  // `config` must have passed ValidateJobConfig. `backend` outlives the trainer.
  static StatusOr<std::unique_ptr<Trainer>> Create(const config::JobConfig& config,
                                                   kernels::KernelBackend* backend);

  // Trains config.training.epochs epochs on `train`, validating on `val` after each.
  Status Fit(const data::Dataset& train, const data::Dataset& val,
             const std::vector<callbacks::Callback*>& callbacks);

  // Mean loss and accuracy over `dataset` (inference: no dropout).
  StatusOr<EvalResult> Evaluate(const data::Dataset& dataset);

  // One optimizer step on `rows` examples given by `indices` into `dataset`;
  // returns the summed loss and adds the correct predictions to *correct.
  double TrainStep(const data::Dataset& dataset, const int64_t* indices, int64_t rows,
                   int64_t* correct);

  model::Model& model() { return *model_; }
  optimizer::Optimizer& optimizer() { return *optimizer_; }
  int64_t global_step() const { return global_step_; }

 private:
  Trainer() = default;
  // x (rows, features) = pixels / 255 of the given examples; labels likewise.
  void GatherBatch(const data::Dataset& dataset, const int64_t* indices, int64_t rows);
  Status CheckDataset(const data::Dataset& dataset, const char* split) const;

  config::JobConfig config_;
  kernels::KernelBackend* backend_ = nullptr;
  std::unique_ptr<model::Model> model_;
  std::unique_ptr<optimizer::Optimizer> optimizer_;
  std::unique_ptr<loss::Loss> loss_;
  int64_t batch_size_ = 0;
  int64_t global_step_ = 0;
  std::vector<float> x_;             // (max_batch, features)
  std::vector<int32_t> labels_;      // (max_batch)
  std::vector<float> grad_output_;   // (max_batch, classes)
};

// The example order of epoch `epoch` (0-based): a Fisher–Yates shuffle of
// [0, n) driven by Philox(seed, epoch), or the identity when !shuffle.
std::vector<int64_t> EpochOrder(uint64_t seed, int64_t epoch, int64_t n, bool shuffle);

}  // namespace shardtrain
