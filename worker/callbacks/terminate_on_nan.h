// TerminateOnNaN: keras.callbacks.TerminateOnNaN, on by default
// (callbacks.terminate_on_nan). After each step it checks the epoch's running
// loss (global over ranks, so every rank agrees): NaN or infinite ends the run
// with InvalidArgument naming the epoch, the step and the global step, before
// the checkpointer could save the broken weights (it comes first among the
// callbacks). Keras stops quietly; a failing run here exits non-zero instead.
#pragma once

#include "worker/callbacks/callback.h"
#include "worker/trainer.h"

namespace shardtrain::callbacks {

class TerminateOnNaN : public Callback {
 public:
  // `trainer` (outlives this) gives the global step for the message.
  explicit TerminateOnNaN(const Trainer* trainer) : trainer_(trainer) {}

  Status OnBatchEnd(const BatchEnd& batch) override;

 private:
  const Trainer* trainer_;
};

}  // namespace shardtrain::callbacks
