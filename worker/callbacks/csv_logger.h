// CsvLogger: RUN_DIR/logs/training.csv, one row per epoch, like Keras's
// CSVLogger. Columns (docs/FORMATS.md "training.csv"): epoch, the job's logs
// (metrics::LogNames), step, examples_per_sec, epoch_seconds; for a job whose
// metrics are ["accuracy"]:
//
//   epoch,loss,accuracy,val_loss,val_accuracy,step,examples_per_sec,epoch_seconds
//
// `epoch` is 0-based, as Keras writes it; floats are printed in their shortest
// round-trip form (Python's repr); a log an epoch lacks is "nan". Each row is
// flushed when written.
//
// Resuming: Open(run_dir, first_epoch) with the 1-based epoch the run starts
// at. first_epoch <= 1 starts the file afresh. Otherwise the rows of epochs
// that are done (0-based epoch < first_epoch - 1) are kept, rows of epochs that
// will be trained again (and a torn last line) are dropped -- the file is
// rewritten through a temporary and a rename -- and new rows are appended, so
// no epoch appears twice. A file whose header is not this job's (another
// program's, or other metrics) is refused (FailedPrecondition naming it)
// rather than mixed with other columns.
// Used by rank 0 only; training thread only.
#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

class CsvLogger : public Callback {
 public:
  // The header line (without the newline) for a job logging `log_names`.
  static std::string Header(const std::vector<std::string>& log_names);

  // Creates RUN_DIR/logs/ and opens training.csv as described above, with a
  // column for each of `log_names` (the job's metrics::LogNames).
  static StatusOr<std::unique_ptr<CsvLogger>> Open(const std::string& run_dir,
                                                   int64_t first_epoch,
                                                   std::vector<std::string> log_names);

  Status OnEpochEnd(const EpochEnd& epoch) override;

  const std::string& path() const { return path_; }

 private:
  CsvLogger(std::string path, std::ofstream out, std::vector<std::string> log_names)
      : path_(std::move(path)), out_(std::move(out)), log_names_(std::move(log_names)) {}

  std::string path_;
  std::ofstream out_;
  std::vector<std::string> log_names_;
};

}  // namespace shardtrain::callbacks
