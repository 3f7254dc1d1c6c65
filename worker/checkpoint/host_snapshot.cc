#include "worker/checkpoint/host_snapshot.h"

#include <string>

namespace shardtrain::checkpoint {
namespace {

// A pinned host buffer of `floats` floats on `backend` in `*buffer`, reusing
// the one there when it has that size.
Status EnsurePinned(kernels::KernelBackend& backend, int64_t floats, const std::string& what,
                    kernels::PinnedBuffer* buffer) {
  const int64_t bytes = floats * static_cast<int64_t>(sizeof(float));
  if (!buffer->empty() && buffer->bytes() == bytes) return OkStatus();
  buffer->reset();
  ASSIGN_OR_RETURN(*buffer, backend.AllocatePinned(bytes, what));
  return OkStatus();
}

}  // namespace

Status HostSnapshot::Take(const model::ParameterStore& params, const optimizer::Optimizer* opt) {
  kernels::KernelBackend& backend = *params.backend();
  if (backend.host_reads_device_memory()) {
    params_.reset();
  } else {
    RETURN_IF_ERROR(
        EnsurePinned(backend, params.size(), "host snapshot of the parameters", &params_));
    RETURN_IF_ERROR(
        params.CopyParamsToHost(params_.floats()).WithContext("copying the parameters to the host"));
  }
  if (opt == nullptr || opt->slots_host_readable()) {
    slots_.clear();
    return OkStatus();
  }
  slots_.resize(opt->slot_names().size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    const std::string name = "optimizer slot " + opt->slot_names()[i];
    RETURN_IF_ERROR(
        EnsurePinned(backend, opt->slot_size(), "host snapshot of " + name, &slots_[i]));
    RETURN_IF_ERROR(opt->CopySlotToHost(i, 0, opt->slot_size(), slots_[i].floats())
                        .WithContext("copying " + name + " to the host"));
  }
  return OkStatus();
}

}  // namespace shardtrain::checkpoint
