// Callback: hooks the trainer calls at fixed points of fit(), Keras-style.
// Each returns a Status; a failing callback (e.g. an unwritable log) stops
// training with that error. Called from the training thread only.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace shardtrain::callbacks {

// The value of `name` in `logs`, or nullopt when it is not there.
inline std::optional<double> FindLog(const std::vector<std::pair<std::string, double>>& logs,
                                     std::string_view name) {
  for (const auto& [key, value] : logs) {
    if (key == name) return value;
  }
  return std::nullopt;
}

struct TrainBegin {
  std::string job_name;
  int64_t first_epoch = 1;   // 1-based
  int64_t epochs = 0;        // total, 1-based last epoch
  int64_t steps_per_epoch = 0;
  int64_t train_examples = 0;
  int64_t val_examples = 0;
  int64_t parameters = 0;
  std::string device;
  std::string optimizer;
};

struct BatchEnd {
  int64_t epoch = 0;          // 1-based
  int64_t step_in_epoch = 0;  // 1-based, <= steps_per_epoch
  int64_t steps_per_epoch = 0;
  double loss = 0;            // running mean over the epoch so far (= Log("loss"))
  double seconds = 0;         // since the epoch began
  double examples_per_sec = 0;  // global, over the epoch so far
  int64_t examples = 0;         // global examples trained on in the epoch so far
  // The optimizer's global step after this batch (epochs of streamed data
  // differ in steps, so it is not a function of the epoch and step).
  int64_t global_step = 0;
  // The optimizer's learning rate for the step just taken; NaN when the trainer
  // does not report it (then it is not logged).
  double learning_rate = std::numeric_limits<double>::quiet_NaN();
  // Keras's batch `logs`: "loss" and the job's metrics, each over the epoch so
  // far (global), in that order.
  std::vector<std::pair<std::string, double>> logs = {};

  // The value logged under `name`, or nullopt when there is none.
  std::optional<double> Log(std::string_view name) const { return FindLog(logs, name); }
};

struct EpochEnd {
  int64_t epoch = 0;         // 1-based
  int64_t step = 0;          // global optimizer step after this epoch
  int64_t steps_in_epoch = 0;
  double examples_per_sec = 0;   // training examples / training seconds of this epoch
  int64_t examples = 0;          // global examples trained on in this epoch (all sessions)
  double epoch_seconds = 0;      // training + validation
  double wall_seconds = 0;       // since training began
  // Keras's optimizer.learning_rate at the epoch's end: the rate the next
  // update uses (a schedule's at the global step), taken before any callback
  // runs, so a ReduceLROnPlateau cut at this epoch's end shows from the next
  // epoch, as Keras's TensorBoard listed before ReduceLROnPlateau logs it (and
  // the pre-cut value Keras's ReduceLROnPlateau puts in logs["learning_rate"]).
  // NaN when the trainer does not report it (then it is not logged).
  double learning_rate = std::numeric_limits<double>::quiet_NaN();
  // Keras's epoch `logs`: the training loss and metrics, then the same with a
  // `val_` prefix, in that order ("loss", "accuracy", "val_loss", ...; the
  // names are metrics::LogNames of the job). This is what the logs, `monitor`
  // settings and {name} checkpoint fields read.
  std::vector<std::pair<std::string, double>> logs;

  // The value logged under `name`, or nullopt when there is none.
  std::optional<double> Log(std::string_view name) const { return FindLog(logs, name); }
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual Status OnTrainBegin(const TrainBegin&) { return OkStatus(); }
  virtual Status OnBatchEnd(const BatchEnd&) { return OkStatus(); }
  virtual Status OnEpochEnd(const EpochEnd&) { return OkStatus(); }
  virtual Status OnTrainEnd() { return OkStatus(); }
};

}  // namespace shardtrain::callbacks
