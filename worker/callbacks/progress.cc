#include "worker/callbacks/progress.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace shardtrain::callbacks {
namespace {

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

// " - name: value" for each log, as Keras 3 prints them: the training logs by
// name, then the validation (val_) ones by name.
std::string LogsText(const std::vector<std::pair<std::string, double>>& logs) {
  std::vector<std::pair<std::string, double>> sorted = logs;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    const bool a_val = a.first.rfind("val_", 0) == 0, b_val = b.first.rfind("val_", 0) == 0;
    return a_val != b_val ? b_val : a.first < b.first;
  });
  std::string text;
  for (const auto& [name, value] : sorted) text += " - " + name + ": " + Format("%.4f", value);
  return text;
}

std::string Bar(int64_t done, int64_t total) {
  constexpr int kWidth = 30;
  int filled = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
  std::string bar = "[";
  for (int i = 0; i < kWidth; ++i) bar += i < filled ? '=' : (i == filled ? '>' : '.');
  return bar + "]";
}

}  // namespace

int DefaultVerbosity(bool stdout_is_terminal, bool launched_by_mpi) {
  return stdout_is_terminal && !launched_by_mpi ? 1 : 2;
}

Status Progress::OnTrainBegin(const TrainBegin& info) {
  epochs_ = info.epochs;
  if (verbose_ == 0) return OkStatus();
  *out_ << "shardtrain: " << info.job_name << " on " << info.device << ", " << info.parameters
        << " parameters, " << info.optimizer << "\n"
        << "  " << info.train_examples << " training examples (" << info.steps_per_epoch
        << " steps/epoch), " << info.val_examples << " validation examples";
  if (info.first_epoch > 1) *out_ << ", resuming at epoch " << info.first_epoch;
  *out_ << std::endl;
  return OkStatus();
}

Status Progress::OnBatchEnd(const BatchEnd& batch) {
  if (verbose_ != 1) return OkStatus();
  auto now = std::chrono::steady_clock::now();
  bool last = batch.step_in_epoch == batch.steps_per_epoch;
  if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return OkStatus();
  last_draw_ = now;
  if (batch.step_in_epoch == 1 || !last) {
    double eta = batch.seconds / static_cast<double>(batch.step_in_epoch) *
                 static_cast<double>(batch.steps_per_epoch - batch.step_in_epoch);
    *out_ << "\rEpoch " << batch.epoch << "/" << epochs_ << " " << batch.step_in_epoch << "/"
          << batch.steps_per_epoch << " " << Bar(batch.step_in_epoch, batch.steps_per_epoch)
          << " - ETA: " << Format("%.0fs", eta) << LogsText(batch.logs) << "\x1b[K" << std::flush;
  }
  return OkStatus();
}

Status Progress::OnEpochEnd(const EpochEnd& epoch) {
  if (verbose_ == 0) return OkStatus();
  if (verbose_ == 1) *out_ << "\r\x1b[K";
  double ms_per_step = epoch.steps_in_epoch > 0 ? 1000.0 * epoch.epoch_seconds /
                                                      static_cast<double>(epoch.steps_in_epoch)
                                                : 0.0;
  *out_ << "Epoch " << epoch.epoch << "/" << epochs_ << " - " << epoch.steps_in_epoch << "/"
        << epoch.steps_in_epoch << " - " << Format("%.1fs", epoch.epoch_seconds) << " - "
        << Format(ms_per_step < 10 ? "%.2fms/step" : "%.0fms/step", ms_per_step)
        << LogsText(epoch.logs) << " - " << Format("%.0f examples/s", epoch.examples_per_sec)
        << std::endl;
  return OkStatus();
}

}  // namespace shardtrain::callbacks
