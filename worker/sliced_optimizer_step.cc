// SlicedOptimizerStep: slice-owner optimizer updates over the shared-memory
// reduction. Not thread-safe; see sliced_optimizer_step.h.
#include "worker/sliced_optimizer_step.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace shardtrain {
namespace {

// Whether every rank's environment allows the sliced step (one small MPI
// reduction, so that all ranks agree even if their environments differ).
StatusOr<bool> EveryRankAllows(comm::Communicator& comm) {
  const char* env = std::getenv("SHARDTRAIN_SLICED_OPTIMIZER");
  int64_t allowed = env != nullptr && std::string(env) == "0" ? 0 : 1;
  RETURN_IF_ERROR(comm.AllReduceSum(&allowed, 1, DType::kInt64)
                      .WithContext("agreeing on the sliced optimizer step"));
  return allowed == comm.world_size();
}

}  // namespace

StatusOr<std::unique_ptr<SlicedOptimizerStep>> SlicedOptimizerStep::Create(
    comm::Communicator& comm, optimizer::Optimizer& optimizer, model::ParameterStore& params,
    bool gradients_final) {
  comm::SliceReduction* reduction = comm.slice_reduction();
  const int64_t size = params.size();
  if (reduction == nullptr || size == 0 ||
      reduction->PeerCopy(params.grads(), size, reduction->rank()) != params.grads() ||
      !optimizer.UpdatesEachFloatAlone(size) || !gradients_final ||
      !optimizer.slots_host_readable()) {  // the window copies slots with memcpy
    return std::unique_ptr<SlicedOptimizerStep>();
  }
  ASSIGN_OR_RETURN(const bool allowed, EveryRankAllows(comm));
  if (!allowed) return std::unique_ptr<SlicedOptimizerStep>();
  float* slot_window = nullptr;
  const int64_t slots = static_cast<int64_t>(optimizer.slot_names().size());
  if (slots > 0) {
    ASSIGN_OR_RETURN(slot_window, comm.AllocateGradientBuffer(slots * size));
  }
  return std::unique_ptr<SlicedOptimizerStep>(
      new SlicedOptimizerStep(reduction, &optimizer, &params, slot_window));
}

Status SlicedOptimizerStep::Step(kernels::KernelBackend& backend) {
  optimizer_->BeginIteration();
  // Captures two pointers only, so the std::function needs no allocation.
  auto update = [this, &backend](int64_t first, int64_t n, const float* sum) {
    return UpdateChunk(backend, first, n, sum);
  };
  RETURN_IF_ERROR(reduction_->ReduceAndUpdate(params_->grads(), params_->size(), update));
  std::memcpy(params_->params(), params_->grads(),
              static_cast<size_t>(params_->size()) * sizeof(float));
  load_slots_ = false;
  slots_stale_ = !optimizer_->slot_names().empty();
  return OkStatus();
}

const float* SlicedOptimizerStep::UpdateChunk(kernels::KernelBackend& backend, int64_t first,
                                              int64_t n, const float* sum) {
  float* slots[2] = {nullptr, nullptr};
  for (size_t i = 0; i < optimizer_->slot_names().size() && i < 2; ++i) {
    slots[i] = WindowSlot(i) + first;
    if (load_slots_) {
      std::memcpy(slots[i], optimizer_->slot_data(i) + first,
                  static_cast<size_t>(n) * sizeof(float));
    }
  }
  float* weights = params_->params() + first;
  optimizer_->UpdateRange(backend, weights, sum, slots, n);
  return weights;
}

void SlicedOptimizerStep::SyncOptimizerSlots() {
  const int64_t size = params_->size();
  if (slots_stale_) {
    for (size_t i = 0; i < optimizer_->slot_names().size(); ++i) {
      float* out = optimizer_->slot_data(i);
      for (int p = 0; p < reduction_->size(); ++p) {
        const comm::Slice slice = comm::OwnedSlice(size, sizeof(float), p, reduction_->size());
        const float* peer = reduction_->PeerCopy(WindowSlot(i), size, p);
        std::memcpy(out + slice.begin, peer + slice.begin,
                    static_cast<size_t>(slice.end - slice.begin) * sizeof(float));
      }
    }
    slots_stale_ = false;
  }
  load_slots_ = true;
}

}  // namespace shardtrain
