// MetricsLog: RUN_DIR/logs/metrics.jsonl, one JSON object per epoch with
// epoch, step, the epoch's logs in order (loss, accuracy, val_loss,
// val_accuracy for a job whose metrics are ["accuracy"]; EpochEnd::logs),
// examples, examples_per_sec, wall_seconds. Floats are printed with 17
// significant digits so two runs can be compared bit for bit. Each line is
// flushed when written.
#pragma once

#include <fstream>
#include <string>

#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

class MetricsLog : public Callback {
 public:
  // Creates RUN_DIR/logs/ and opens metrics.jsonl (truncated when `append` is false).
  static StatusOr<std::unique_ptr<MetricsLog>> Open(const std::string& run_dir, bool append);
  Status OnEpochEnd(const EpochEnd& epoch) override;
  const std::string& path() const { return path_; }

 private:
  MetricsLog(std::string path, std::ofstream out) : path_(std::move(path)), out_(std::move(out)) {}
  std::string path_;
  std::ofstream out_;
};

}  // namespace shardtrain::callbacks
