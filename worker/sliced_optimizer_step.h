// SlicedOptimizerStep: the optimizer step of a data-parallel job whose ranks
// share one node, run once per float (by the float's owner rank) instead of
// on every rank.
//
// The gradients live in the communicator's shared window
// (Communicator::AllocateGradientBuffer). Step() runs
// SliceReduction::ReduceAndUpdate on them: rank r sums its OwnedSlice() of
// the gradients over ranks and, chunk by chunk, applies the optimizer to those
// floats (Optimizer::UpdateRange: the kernel, inputs and iteration of the
// replicated Optimizer::Apply, so the same bits), then stores the updated
// weights into every rank's gradient buffer; each rank then copies them into
// its parameters. The gradient buffer holds those weights until the next
// backward pass overwrites it.
//
// Slots: the optimizer slots of slice r live in rank r's segment of a second
// shared window (slot i at floats [i * size, (i + 1) * size)), and the
// Optimizer's own slot buffers go stale while training. SyncOptimizerSlots()
// copies every rank's slice from the window into them (local, no
// communication: a peer writes its slice only inside Step, after this rank
// has entered it) and makes them the source of the next Step, which first
// copies this rank's slice back, so that restores and tests that write the
// Optimizer's slots take effect.
//
// Not thread-safe; Step is collective over the job's ranks.
#pragma once

#include <cstdint>
#include <memory>

#include "common/status.h"
#include "kernels/backend.h"
#include "worker/comm/communicator.h"
#include "worker/model/parameter_store.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain {

class SlicedOptimizerStep {
 public:
  // Collective (every rank, same arguments). Null (OK) where the sliced step
  // does not apply, and the caller keeps the replicated step: `comm` has no
  // slice reduction (one rank, several nodes, NCCL, shared memory disabled),
  // `params`' gradients are not in its shared window, `optimizer` does not
  // update each float alone (frozen or non-trainable variables, gradient
  // clipping), `gradients_final` is false (the summed gradient still changes
  // before the update, e.g. kernel regularizers), or some rank's environment
  // has SHARDTRAIN_SLICED_OPTIMIZER=0. `comm`, `optimizer` and `params` must
  // outlive the object.
  static StatusOr<std::unique_ptr<SlicedOptimizerStep>> Create(comm::Communicator& comm,
                                                               optimizer::Optimizer& optimizer,
                                                               model::ParameterStore& params,
                                                               bool gradients_final);

  // Collective. Sums the gradients in params.grads() over ranks and applies
  // one optimizer update to every parameter, each float on its owner rank;
  // on return every rank's params.params() holds the updated weights.
  Status Step(kernels::KernelBackend& backend);

  // Makes the Optimizer's slot buffers current (see the file comment). Call
  // between Steps, before reading or writing them.
  void SyncOptimizerSlots();

 private:
  SlicedOptimizerStep(comm::SliceReduction* reduction, optimizer::Optimizer* optimizer,
                      model::ParameterStore* params, float* slot_window)
      : reduction_(reduction), optimizer_(optimizer), params_(params), slot_window_(slot_window) {}

  // The update of floats [first, first + n) (this rank's) from their summed
  // gradients `sum`; returns their new weights.
  const float* UpdateChunk(kernels::KernelBackend& backend, int64_t first, int64_t n,
                           const float* sum);
  // Slot `index`'s floats in this rank's segment of the slot window.
  float* WindowSlot(size_t index) const {
    return slot_window_ + static_cast<int64_t>(index) * params_->size();
  }

  comm::SliceReduction* reduction_;
  optimizer::Optimizer* optimizer_;
  model::ParameterStore* params_;
  float* slot_window_;         // slots * size floats; null without slots
  bool load_slots_ = true;     // next Step copies this rank's slice of the slots in first
  bool slots_stale_ = false;   // the Optimizer's slot buffers lag the window
};

}  // namespace shardtrain
