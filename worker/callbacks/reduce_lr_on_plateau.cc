#include "worker/callbacks/reduce_lr_on_plateau.h"

#include <algorithm>
#include <memory>

namespace shardtrain::callbacks {
namespace {

constexpr char kField[] = "callbacks.reduce_lr_on_plateau";
constexpr char kWait[] = "reduce_lr_on_plateau/wait";
constexpr char kCooldown[] = "reduce_lr_on_plateau/cooldown_counter";
constexpr char kBest[] = "reduce_lr_on_plateau/best";
constexpr char kLearningRate[] = "reduce_lr_on_plateau/learning_rate";

}  // namespace

ReduceLROnPlateau::ReduceLROnPlateau(const config::ReduceLROnPlateauConfig& config,
                                     Trainer* trainer, std::ostream* out)
    : config_(config),
      trainer_(trainer),
      out_(out),
      comparison_(config.mode(), config.min_delta()) {}

StatusOr<std::unique_ptr<ReduceLROnPlateau>> ReduceLROnPlateau::Create(
    const config::ReduceLROnPlateauConfig& config, Trainer* trainer, std::ostream* out) {
  std::unique_ptr<ReduceLROnPlateau> callback(new ReduceLROnPlateau(config, trainer, out));
  const CallbackState& state = trainer->callback_state();
  callback->wait_ = static_cast<int64_t>(state.Scalar(kWait).value_or(0));
  callback->cooldown_counter_ = static_cast<int64_t>(state.Scalar(kCooldown).value_or(0));
  callback->best_ = state.Scalar(kBest);
  if (std::optional<double> rate = state.Scalar(kLearningRate)) {
    RETURN_IF_ERROR(trainer->optimizer()
                        .SetLearningRate(static_cast<float>(*rate))
                        .WithContext(std::string(kField) + ": restoring the lowered rate"));
  }
  return callback;
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
  if (best_) state.scalars[kBest] = *best_;
  state.scalars[kLearningRate] = trainer_->optimizer().learning_rate();
}

}  // namespace shardtrain::callbacks
