// Progress: Keras fit()'s console output. verbose 1 draws a live bar that is
// redrawn in place (for a TTY); verbose 2 prints one line per epoch (for logs);
// verbose 0 prints nothing. Writes to the given stream only.
#pragma once

#include <chrono>
#include <ostream>

#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

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
