#include "worker/callbacks/reduce_lr_on_plateau.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

namespace shardtrain::callbacks {
namespace {

constexpr char kField[] = "callbacks.reduce_lr_on_plateau";
constexpr char kWait[] = "reduce_lr_on_plateau/wait";
constexpr char kCooldown[] = "reduce_lr_on_plateau/cooldown_counter";
constexpr char kBest[] = "reduce_lr_on_plateau/best";
constexpr char kLearningRate[] = "reduce_lr_on_plateau/learning_rate";
// The configured rate (the optimizer's when the callback was created) that
// kLearningRate derives from: a resume compares it with the configured rate.
constexpr char kConfiguredRate[] = "reduce_lr_on_plateau/configured_learning_rate";

}  // namespace

ReduceLROnPlateau::ReduceLROnPlateau(const config::ReduceLROnPlateauConfig& config,
                                     Trainer* trainer, std::ostream* out)
    : config_(config),
      trainer_(trainer),
      out_(out),
      comparison_(config.mode(), config.min_delta()),
      configured_rate_(trainer->optimizer().learning_rate()) {}

StatusOr<std::unique_ptr<ReduceLROnPlateau>> ReduceLROnPlateau::Create(
    const config::ReduceLROnPlateauConfig& config, Trainer* trainer, std::ostream* out) {
  std::unique_ptr<ReduceLROnPlateau> callback(new ReduceLROnPlateau(config, trainer, out));
  RETURN_IF_ERROR(callback->Restore());
  return callback;
}

Status ReduceLROnPlateau::Restore() {
  const CallbackState& state = trainer_->callback_state();
  const std::optional<double> saved_rate = state.Scalar(kLearningRate);
  if (!saved_rate) return OkStatus();  // a fresh run, or no epoch has ended yet
  const std::optional<double> saved_configured = state.Scalar(kConfiguredRate);
  if (saved_configured && *saved_configured != configured_rate_) {
    // optimizer.learning_rate changed since the checkpoint: start from the new
    // rate with fresh wait, cooldown and best. Keras's on_train_begin resets
    // all three (_reset), so a Keras user who sets the optimizer's rate and
    // calls fit() again gets this; keeping best would judge the new rate
    // against a best reached at another one, and a raised rate that first
    // worsens the monitored value would be cut again after `patience` epochs.
    if (out_ != nullptr) {
      *out_ << "ReduceLROnPlateau: optimizer.learning_rate changed from "
            << static_cast<float>(*saved_configured) << " to "
            << static_cast<float>(configured_rate_)
            << " since the checkpoint: training continues at "
            << static_cast<float>(configured_rate_) << ", not the checkpoint's "
            << static_cast<float>(*saved_rate) << ", with fresh plateau counters" << std::endl;
    }
    SaveState();  // a checkpoint before the next epoch's end resumes the same way
    return OkStatus();
  }
  wait_ = static_cast<int64_t>(state.Scalar(kWait).value_or(0));
  cooldown_counter_ = static_cast<int64_t>(state.Scalar(kCooldown).value_or(0));
  best_ = state.Scalar(kBest);
  if (*saved_rate == configured_rate_) return OkStatus();
  RETURN_IF_ERROR(trainer_->optimizer()
                      .SetLearningRate(static_cast<float>(*saved_rate))
                      .WithContext(std::string(kField) + ": restoring the lowered rate"));
  if (out_ != nullptr) {
    // A checkpoint written before kConfiguredRate existed cannot tell a lowered
    // rate from a changed config; it keeps the saved rate, as it did then.
    *out_ << "ReduceLROnPlateau: resuming at the checkpoint's learning rate "
          << static_cast<float>(*saved_rate) << ", not optimizer.learning_rate "
          << static_cast<float>(configured_rate_)
          << (saved_configured ? " (lowered on a plateau)"
                               : " (the checkpoint, written by an older shardtrain, does not "
                                 "record its configured rate: a changed rate is not applied)")
          << std::endl;
  }
  return OkStatus();
}

Status ReduceLROnPlateau::OnEpochEnd(const EpochEnd& end) {
  ASSIGN_OR_RETURN(const double current, MonitoredValue(end, kField, config_.monitor()));
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (comparison_.IsImprovement(current, best_)) {
    best_ = current;
    wait_ = 0;
  } else if (cooldown_counter_ == 0) {
    ++wait_;
    if (wait_ >= config_.patience()) RETURN_IF_ERROR(ReduceRate(end.epoch));
  }
  SaveState();
  return OkStatus();
}

Status ReduceLROnPlateau::ReduceRate(int64_t epoch) {
  optimizer::Optimizer& optimizer = trainer_->optimizer();
  // Keras: the float32 rate read as a Python float, times the factor, not
  // below min_lr, stored back as float32.
  const double old_rate = optimizer.learning_rate();
  if (!(old_rate > static_cast<double>(static_cast<float>(config_.min_lr())))) return OkStatus();
  const double new_rate = std::max(old_rate * config_.factor(), config_.min_lr());
  RETURN_IF_ERROR(optimizer.SetLearningRate(static_cast<float>(new_rate)).WithContext(kField));
  if (out_ != nullptr) {
    *out_ << "Epoch " << epoch << ": ReduceLROnPlateau reducing learning rate to "
          << optimizer.learning_rate() << "." << std::endl;
  }
  cooldown_counter_ = config_.cooldown();
  wait_ = 0;
  return OkStatus();
}

void ReduceLROnPlateau::SaveState() {
  CallbackState& state = trainer_->callback_state();
  state.scalars[kWait] = static_cast<double>(wait_);
  state.scalars[kCooldown] = static_cast<double>(cooldown_counter_);
  if (best_) {
    state.scalars[kBest] = *best_;
  } else {
    state.scalars.erase(kBest);
  }
  state.scalars[kLearningRate] = trainer_->optimizer().learning_rate();
  state.scalars[kConfiguredRate] = configured_rate_;
}

}  // namespace shardtrain::callbacks
