// EarlyStopping: keras.callbacks.EarlyStopping (config.proto,
// EarlyStoppingConfig) on every rank. Each rank sees the same global epoch
// logs, so all make the same decision and stop together through
// Trainer::RequestStop() at the end of the same epoch.
//
// restore_best_weights follows Keras 3 (weights of the best epoch once
// training ends, stopped early or not); they are put back at the end of the
// last epoch trained (the stopping one, or the configured last), before that
// epoch's checkpoint, so the job's final checkpoint holds them. The best
// weights are a host copy: read in place where the host reads the model's
// memory (the CPU backend), else through ParameterStore::CopyParamsToHost /
// CopyParamsFromHost (a failed copy fails OnEpochEnd, naming it).
//
// Its counters, best value and best weights live in the trainer's
// CallbackState (callback_state.h), so checkpoints carry them and a resumed
// run stops at the same epoch as an uninterrupted one. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <vector>

#include "proto/config.pb.h"
#include "worker/callbacks/callback.h"
#include "worker/callbacks/callback_state.h"
#include "worker/callbacks/monitor.h"
#include "worker/trainer.h"

namespace shardtrain::callbacks {

class EarlyStopping : public Callback {
 public:
  // `config` passed ValidateJobConfig (monitor set, mode min or max).
  // `trainer` outlives this; its callback_state() holds the state restored
  // with a checkpoint (empty for a fresh run). Messages go to `out` (null: none).
  EarlyStopping(const config::EarlyStoppingConfig& config, Trainer* trainer, std::ostream* out);

  Status OnTrainBegin(const TrainBegin& begin) override;
  Status OnEpochEnd(const EpochEnd& epoch) override;

  // Whether a checkpoint's callback state says training already stopped early
  // (a re-run of such a job has nothing to train); the 1-based epoch it did.
  static std::optional<int64_t> StoppedEpoch(const CallbackState& state);

 private:
  // Writes the counters (and best weights) into the trainer's CallbackState.
  void SaveState();
  // best_weights_ = the model's weights now.
  Status CopyBestWeights();
  // The model's weights become the best epoch's, when there are some.
  Status RestoreBestWeights();

  config::EarlyStoppingConfig config_;
  Trainer* trainer_;
  std::ostream* out_;
  MonitorComparison comparison_;
  int64_t epochs_ = 0;  // 1-based last epoch of the run
  // Keras's attributes (epochs 0-based).
  int64_t wait_ = 0;
  int64_t stopped_epoch_ = 0;
  int64_t best_epoch_ = 0;
  std::optional<double> best_;
  std::vector<float> best_weights_;  // empty: none yet
};

}  // namespace shardtrain::callbacks
