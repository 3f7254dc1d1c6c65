// HostSnapshot: host copies of a trainer's variables (parameters and
// optimizer slots) for checkpoints, where the host cannot read the backend's
// memory (CUDA, the strict device).
#pragma once

#include <cstddef>
#include <vector>

#include "common/status.h"
#include "kernels/device_buffer.h"
#include "worker/model/parameter_store.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::checkpoint {

// Host copies of a trainer's variables, where the host cannot read its
// backend's memory: the parameters through one
// ParameterStore::CopyParamsToHost and each optimizer slot through one
// Optimizer::CopySlotToHost (each waits for its copy), into pinned host
// memory allocated by the first Take and reused by later Takes of the same
// sizes (a reused snapshot's earlier contents are overwritten). A save writes
// from it; a restore reads the checkpoint into it and copies it back
// (FinishRestore). Where the host reads the memory in place (the CPU backend)
// Take copies nothing.
class HostSnapshot {
 public:
  // Copies the parameters, and the slots of `opt` unless it is null.
  Status Take(const model::ParameterStore& params, const optimizer::Optimizer* opt);
  // The copies of the last Take; null where it copied nothing.
  float* params() const { return params_.floats(); }
  float* slot(size_t index) const {
    return index < slots_.size() ? slots_[index].floats() : nullptr;
  }
  size_t num_slots() const { return slots_.size(); }

 private:
  kernels::PinnedBuffer params_;
  std::vector<kernels::PinnedBuffer> slots_;
};

}  // namespace shardtrain::checkpoint
