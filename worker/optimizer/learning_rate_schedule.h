// LearningRateSchedule: the learning rate for each optimizer step, either a
// constant or one of Keras's schedules (keras.optimizers.schedules:
// ExponentialDecay, PiecewiseConstantDecay, CosineDecay with warmup,
// InverseTimeDecay). At(step) evaluates Keras's formula in float32, as Keras
// does for a float32 initial rate; `step` is the optimizer's iteration count
// before the update, so a resumed run (iterations restored from the
// checkpoint) continues the schedule exactly.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain::optimizer {

class LearningRateSchedule {
 public:
  // The schedule of `config` (learning_rate_schedule when set, else the constant
  // learning_rate, `default_rate` when that is 0). InvalidArgument names the bad
  // field (e.g. decay_steps <= 0, boundaries not increasing, both a constant
  // rate and a schedule).
  static StatusOr<LearningRateSchedule> Create(const config::OptimizerConfig& config,
                                               float default_rate);

  float At(int64_t step) const;
  bool is_constant() const {
    return config_.kind_case() == config::LearningRateSchedule::KIND_NOT_SET;
  }
  // The schedule's config (kind unset for a constant rate).
  const config::LearningRateSchedule& config() const { return config_; }
  // The Keras class name ("ExponentialDecay", ...); empty for a constant rate.
  std::string KerasClassName() const;

 private:
  float constant_ = 1e-3f;
  config::LearningRateSchedule config_;
};

}  // namespace shardtrain::optimizer
