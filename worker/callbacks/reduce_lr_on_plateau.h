// ReduceLROnPlateau: keras.callbacks.ReduceLROnPlateau (config.proto,
// ReduceLROnPlateauConfig) on every rank: each sees the same global epoch
// logs, so all lower the optimizer's rate at the end of the same epoch.
// The optimizer's rate must be constant (ValidateJobConfig refuses a
// schedule). Its counters, best value, the current rate and the configured
// rate it started from live in the trainer's CallbackState
// (callback_state.h): a resumed run continues with the lowered rate and the
// same counters, unless optimizer.learning_rate changed since the checkpoint
// (--learning-rate with --allow-config-change): then it starts from the new
// configured rate with fresh counters, as a new Keras fit() would. Not
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>

#include "proto/config.pb.h"
#include "worker/callbacks/callback.h"
#include "worker/callbacks/monitor.h"
#include "worker/trainer.h"

namespace shardtrain::callbacks {

class ReduceLROnPlateau : public Callback {
 public:
  // Restores the state of `trainer`'s callback_state(); `trainer`'s optimizer
  // holds the configured rate. A saved lowered rate is set on the optimizer
  // when the configured rate is the one the state was saved under; a changed
  // configured rate drops the saved rate and counters. Says which rate a
  // resume uses when it is not the configured one or the configured one
  // changed. `config` passed ValidateJobConfig (defaults filled, mode min or
  // max). Messages go to `out` (null: none).
  static StatusOr<std::unique_ptr<ReduceLROnPlateau>> Create(
      const config::ReduceLROnPlateauConfig& config, Trainer* trainer, std::ostream* out);

  Status OnEpochEnd(const EpochEnd& epoch) override;

 private:
  ReduceLROnPlateau(const config::ReduceLROnPlateauConfig& config, Trainer* trainer,
                    std::ostream* out);
  // Create's restore of the callback state (see Create).
  Status Restore();
  // Rate * factor (not below min_lr) when the rate is above min_lr.
  Status ReduceRate(int64_t epoch);
  void SaveState();

  config::ReduceLROnPlateauConfig config_;
  Trainer* trainer_;
  std::ostream* out_;
  MonitorComparison comparison_;
  int64_t wait_ = 0;
  int64_t cooldown_counter_ = 0;
  std::optional<double> best_;
  // The optimizer's rate when the callback was created: the configured one.
  double configured_rate_ = 0;
};

}  // namespace shardtrain::callbacks
