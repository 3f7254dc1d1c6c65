#include "worker/callbacks/progress.h"

#include <cstdio>
#include <string>

namespace shardtrain::callbacks {
namespace {

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
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
          << " - ETA: " << Format("%.0fs", eta) << " - accuracy: " << Format("%.4f", batch.accuracy)
          << " - loss: " << Format("%.4f", batch.loss) << "\x1b[K" << std::flush;
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
        << " - accuracy: " << Format("%.4f", epoch.accuracy)
        << " - loss: " << Format("%.4f", epoch.loss)
        << " - val_accuracy: " << Format("%.4f", epoch.val_accuracy)
        << " - val_loss: " << Format("%.4f", epoch.val_loss) << " - "
        << Format("%.0f examples/s", epoch.examples_per_sec) << std::endl;
  return OkStatus();
}

}  // namespace shardtrain::callbacks
