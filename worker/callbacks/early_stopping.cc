#include "worker/callbacks/early_stopping.h"

#include <algorithm>
#include <string>
#include <utility>

namespace shardtrain::callbacks {
namespace {

constexpr char kField[] = "callbacks.early_stopping";
constexpr char kWait[] = "early_stopping/wait";
constexpr char kStoppedEpoch[] = "early_stopping/stopped_epoch";
constexpr char kBestEpoch[] = "early_stopping/best_epoch";
constexpr char kBest[] = "early_stopping/best";
constexpr char kBestWeights[] = "early_stopping/best_weights";

}  // namespace

EarlyStopping::EarlyStopping(const config::EarlyStoppingConfig& config, Trainer* trainer,
                             std::ostream* out)
    : config_(config),
      trainer_(trainer),
      out_(out),
      comparison_(config.mode(), config.min_delta()) {
  const CallbackState& state = trainer_->callback_state();
  wait_ = static_cast<int64_t>(state.Scalar(kWait).value_or(0));
  stopped_epoch_ = static_cast<int64_t>(state.Scalar(kStoppedEpoch).value_or(0));
  best_epoch_ = static_cast<int64_t>(state.Scalar(kBestEpoch).value_or(0));
  best_ = state.Scalar(kBest);
  auto weights = state.vectors.find(kBestWeights);
  if (config_.restore_best_weights() && weights != state.vectors.end() &&
      static_cast<int64_t>(weights->second.size()) == trainer_->model().parameters().size()) {
    best_weights_ = weights->second;
  }
}

std::optional<int64_t> EarlyStopping::StoppedEpoch(const CallbackState& state) {
  const double stopped = state.Scalar(kStoppedEpoch).value_or(0);
  if (stopped <= 0) return std::nullopt;
  return static_cast<int64_t>(stopped) + 1;
}

Status EarlyStopping::OnTrainBegin(const TrainBegin& begin) {
  epochs_ = begin.epochs;
  return OkStatus();
}

Status EarlyStopping::OnEpochEnd(const EpochEnd& end) {
  const int64_t epoch = end.epoch - 1;  // Keras's 0-based epoch
  ASSIGN_OR_RETURN(const double current, MonitoredValue(end, kField, config_.monitor()));
  if (epoch < config_.start_from_epoch()) return OkStatus();
  if (config_.restore_best_weights() && best_weights_.empty()) {
    // Until something improves, the first monitored epoch is the best.
    RETURN_IF_ERROR(CopyBestWeights());
    best_epoch_ = epoch;
  }
  ++wait_;
  const std::optional<double> baseline =
      config_.has_baseline() ? std::optional<double>(config_.baseline()) : std::nullopt;
  bool stop = false;
  if (comparison_.IsImprovement(current, best_)) {
    best_ = current;
    best_epoch_ = epoch;
    if (config_.restore_best_weights()) RETURN_IF_ERROR(CopyBestWeights());
    // Only beating the baseline too restarts the count.
    if (!baseline || comparison_.IsImprovement(current, baseline)) wait_ = 0;
  } else if (wait_ >= config_.patience() && epoch > 0) {
    stop = true;
    stopped_epoch_ = epoch;
    trainer_->RequestStop();
    if (out_ != nullptr) *out_ << "Epoch " << end.epoch << ": early stopping" << std::endl;
  }
  if (stop || end.epoch == epochs_) RETURN_IF_ERROR(RestoreBestWeights());
  SaveState();
  return OkStatus();
}

Status EarlyStopping::CopyBestWeights() {
  const model::ParameterStore& params = trainer_->model().parameters();
  if (params.backend()->host_reads_device_memory()) {
    best_weights_.assign(params.params(), params.params() + params.size());
    return OkStatus();
  }
  std::vector<float> weights(static_cast<size_t>(params.size()));
  RETURN_IF_ERROR(params.CopyParamsToHost(weights.data())
                      .WithContext(std::string(kField) + ": copying the best weights to the host"));
  best_weights_ = std::move(weights);  // unchanged when the copy fails
  return OkStatus();
}

Status EarlyStopping::RestoreBestWeights() {
  if (!config_.restore_best_weights() || best_weights_.empty()) return OkStatus();
  if (out_ != nullptr) {
    *out_ << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1 << "."
          << std::endl;
  }
  model::ParameterStore& params = trainer_->model().parameters();
  if (params.backend()->host_reads_device_memory()) {
    std::copy(best_weights_.begin(), best_weights_.end(), params.params());
    return OkStatus();
  }
  return params.CopyParamsFromHost(best_weights_.data())
      .WithContext(std::string(kField) + ": restoring the best weights to the device");
}

void EarlyStopping::SaveState() {
  CallbackState& state = trainer_->callback_state();
  state.scalars[kWait] = static_cast<double>(wait_);
  state.scalars[kStoppedEpoch] = static_cast<double>(stopped_epoch_);
  state.scalars[kBestEpoch] = static_cast<double>(best_epoch_);
  if (best_) state.scalars[kBest] = *best_;
  if (!best_weights_.empty()) state.vectors[kBestWeights] = best_weights_;
}

}  // namespace shardtrain::callbacks
