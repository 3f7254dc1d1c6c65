#include "worker/callbacks/tensorboard.h"

#include <cmath>
#include <filesystem>
#include <string>
#include <string_view>

namespace shardtrain::callbacks {

StatusOr<std::unique_ptr<TensorBoardLogger>> TensorBoardLogger::Open(const std::string& run_dir,
                                                                     int64_t log_every_steps) {
  if (log_every_steps < 0) {
    return InvalidArgumentError("--log-every must be >= 0 (0: log epochs only), got " +
                                std::to_string(log_every_steps));
  }
  const std::filesystem::path logs = std::filesystem::path(run_dir) / "logs";
  ASSIGN_OR_RETURN(auto train, storage::events::EventFileWriter::Open((logs / "train").string()));
  ASSIGN_OR_RETURN(auto validation,
                   storage::events::EventFileWriter::Open((logs / "validation").string()));
  return std::unique_ptr<TensorBoardLogger>(
      new TensorBoardLogger(std::move(train), std::move(validation), log_every_steps));
}

Status TensorBoardLogger::OnBatchEnd(const BatchEnd& batch) {
  if (log_every_steps_ <= 0) return OkStatus();
  const int64_t step = batch.global_step;
  if (step % log_every_steps_ != 0) return OkStatus();
  const double wall_time = storage::events::WallTimeNow();
  for (const auto& [name, value] : batch.logs) {
    RETURN_IF_ERROR(
        train_->WriteScalar("batch_" + name, step, static_cast<float>(value), wall_time));
  }
  RETURN_IF_ERROR(train_->WriteScalar("examples_per_second", step,
                                      static_cast<float>(batch.examples_per_sec), wall_time));
  if (std::isfinite(batch.learning_rate)) {
    RETURN_IF_ERROR(train_->WriteScalar("learning_rate", step,
                                        static_cast<float>(batch.learning_rate), wall_time));
  }
  return OkStatus();
}

Status TensorBoardLogger::OnEpochEnd(const EpochEnd& epoch) {
  const int64_t step = epoch.epoch - 1;  // Keras logs epoch scalars at the 0-based epoch
  const double wall_time = storage::events::WallTimeNow();
  constexpr std::string_view kValPrefix = "val_";
  for (const auto& [name, value] : epoch.logs) {
    const bool validation = name.compare(0, kValPrefix.size(), kValPrefix) == 0;
    const std::string tag = "epoch_" + name.substr(validation ? kValPrefix.size() : 0);
    storage::events::EventFileWriter& writer = validation ? *validation_ : *train_;
    RETURN_IF_ERROR(writer.WriteScalar(tag, step, static_cast<float>(value), wall_time));
  }
  // Keras's _collect_learning_rate: the optimizer's rate joins the train logs.
  if (std::isfinite(epoch.learning_rate)) {
    RETURN_IF_ERROR(train_->WriteScalar("epoch_learning_rate", step,
                                        static_cast<float>(epoch.learning_rate), wall_time));
  }
  return OkStatus();
}

Status TensorBoardLogger::OnTrainEnd() {
  Status train = train_->Close();
  Status validation = validation_->Close();
  return train.ok() ? validation : train;
}

}  // namespace shardtrain::callbacks
