// ReduceLROnPlateau: keras.callbacks.ReduceLROnPlateau (config.proto,
// ReduceLROnPlateauConfig) on every rank: each sees the same global epoch
// logs, so all lower the optimizer's rate at the end of the same epoch.
// The optimizer's rate must be constant (ValidateJobConfig refuses a
// schedule). Its counters, best value and the current rate live in the
// trainer's CallbackState (callback_state.h): a resumed run continues with
// the lowered rate and the same counters. Not thread-safe.
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
  // Restores the state of `trainer`'s callback_state() (a lowered rate is set
  // on its optimizer). `config` passed ValidateJobConfig (defaults filled, mode
  // min or max). Messages go to `out` (null: none).
  static StatusOr<std::unique_ptr<ReduceLROnPlateau>> Create(
      const config::ReduceLROnPlateauConfig& config, Trainer* trainer, std::ostream* out);

  Status OnEpochEnd(const EpochEnd& epoch) override;

 private:
  ReduceLROnPlateau(const config::ReduceLROnPlateauConfig& config, Trainer* trainer,
                    std::ostream* out);
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
};

}  // namespace shardtrain::callbacks
