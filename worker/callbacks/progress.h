// Progress: Keras fit()'s console output. verbose 1 draws a live bar that is
// redrawn in place (for a TTY); verbose 2 prints one line per epoch (for logs);
// verbose 0 prints nothing. Logs are shown as Keras 3 orders them: training
// ones by name ("accuracy", "auc", "loss"), then the val_ ones by name.
// Writes to the given stream only.
// DefaultVerbosity is the rule for a run without --verbose.
#pragma once

#include <chrono>
#include <ostream>

#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

// The verbosity of a run without --verbose (Keras's verbose="auto"): 1, the
// live bar, only when stdout is a terminal and the process was not started
// by an MPI launcher; else 2, one line per epoch. Under mpirun a rank's
// stdout is a pseudo-terminal that mpirun reads and forwards (Open MPI 4 gives
// every rank one whether mpirun writes to a terminal or to a file), so a
// rank cannot tell whether a person or a log file receives the bar.
int DefaultVerbosity(bool stdout_is_terminal, bool launched_by_mpi);

class Progress : public Callback {
 public:
  Progress(std::ostream* out, int verbose) : out_(out), verbose_(verbose) {}
  Status OnTrainBegin(const TrainBegin& info) override;
  Status OnBatchEnd(const BatchEnd& batch) override;
  Status OnEpochEnd(const EpochEnd& epoch) override;

 private:
  std::ostream* out_;
  int verbose_;
  int64_t epochs_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace shardtrain::callbacks
