// MetricsLog: RUN_DIR/logs/metrics.jsonl, one JSON object per epoch with
// epoch, step, the epoch's logs in order (loss, accuracy, val_loss,
// val_accuracy for a job whose metrics are ["accuracy"]; EpochEnd::logs),
// examples, examples_per_sec, wall_seconds. Floats are printed with 17
// significant digits so two runs can be compared bit for bit. Each line is
// flushed when written.
//
// Resuming (as CsvLogger): Open(run_dir, /*append=*/true) keeps the file, and
// OnTrainBegin, which carries the 1-based epoch the run starts at, keeps only
// the lines of epochs before it -- lines of epochs that will be trained again
// (a resume from a checkpoint older than the last logged epoch, --restore of
// an older one, a fall back past a damaged one) and a torn last line are
// dropped, the file being rewritten through a temporary and a rename -- and
// new lines are appended, so no epoch appears twice. A run with nothing left
// to train (no OnTrainBegin) leaves the file as it is.
// Used by rank 0 only; training thread only.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>

#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

class MetricsLog : public Callback {
 public:
  // Creates RUN_DIR/logs/ and opens metrics.jsonl (truncated when `append` is false).
  static StatusOr<std::unique_ptr<MetricsLog>> Open(const std::string& run_dir, bool append);
  // Drops the lines of epochs >= begin.first_epoch (see above).
  Status OnTrainBegin(const TrainBegin& begin) override;
  Status OnEpochEnd(const EpochEnd& epoch) override;
  const std::string& path() const { return path_; }

 private:
  MetricsLog(std::string path, std::ofstream out) : path_(std::move(path)), out_(std::move(out)) {}
  std::string path_;
  std::ofstream out_;
};

}  // namespace shardtrain::callbacks
