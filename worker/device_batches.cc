#include "worker/device_batches.h"

#include <string>

namespace shardtrain {
namespace {

using kernels::Stream;

// `count` elements of `element_bytes` for slot `slot`'s `what`.
StatusOr<kernels::DeviceBuffer> DeviceOf(kernels::KernelBackend& backend, int64_t count,
                                         int64_t element_bytes, int slot, const char* what) {
  return backend.AllocateDevice(count * element_bytes,
                                "batch slot " + std::to_string(slot) + " " + what);
}

StatusOr<kernels::PinnedBuffer> PinnedOf(kernels::KernelBackend& backend, int64_t count,
                                         int64_t element_bytes, int slot, const char* what) {
  return backend.AllocatePinned(count * element_bytes,
                                "batch slot " + std::to_string(slot) + " staging " + what);
}

}  // namespace

StatusOr<DeviceBatches> DeviceBatches::Create(kernels::KernelBackend& backend, int64_t max_rows,
                                              int64_t features, int64_t label_width) {
  DeviceBatches batches;
  batches.backend_ = &backend;
  batches.features_ = features;
  batches.label_width_ = label_width;
  const int64_t ids = label_width == 0 ? max_rows : 0;
  const int64_t values = max_rows * label_width;
  for (int i = 0; i < batches.num_slots(); ++i) {
    Slot& slot = batches.slots_[static_cast<size_t>(i)];
    ASSIGN_OR_RETURN(slot.x, DeviceOf(backend, max_rows * features, sizeof(float), i, "features"));
    ASSIGN_OR_RETURN(slot.class_ids, DeviceOf(backend, ids, sizeof(int32_t), i, "class ids"));
    ASSIGN_OR_RETURN(slot.label_values,
                     DeviceOf(backend, values, sizeof(float), i, "label values"));
    if (!batches.copies()) continue;
    ASSIGN_OR_RETURN(slot.host_x, PinnedOf(backend, max_rows * features, sizeof(float), i,
                                           "features"));
    ASSIGN_OR_RETURN(slot.host_class_ids, PinnedOf(backend, ids, sizeof(int32_t), i,
                                                   "class ids"));
    ASSIGN_OR_RETURN(slot.host_label_values,
                     PinnedOf(backend, values, sizeof(float), i, "label values"));
    ASSIGN_OR_RETURN(slot.uploaded, backend.CreateEvent());
    ASSIGN_OR_RETURN(slot.released, backend.CreateEvent());
  }
  return batches;
}

BatchBuffers DeviceBatches::DeviceBuffersOf(const Slot& slot) {
  return {slot.x.floats(), slot.class_ids.as<int32_t>(), slot.label_values.floats()};
}

StatusOr<BatchBuffers> DeviceBatches::host(int slot_index) {
  Slot& slot = slots_[static_cast<size_t>(slot_index)];
  if (!copies()) return DeviceBuffersOf(slot);
  // The pinned buffers are free once the previous upload from them is done.
  if (slot.was_uploaded) {
    RETURN_IF_ERROR(backend_->WaitEvent(slot.uploaded)
                        .WithContext("uploading batch slot " + std::to_string(slot_index)));
  }
  return BatchBuffers{slot.host_x.floats(), slot.host_class_ids.as<int32_t>(),
                      slot.host_label_values.floats()};
}

void DeviceBatches::Upload(int slot_index, int64_t rows) {
  Slot& slot = slots_[static_cast<size_t>(slot_index)];
  if (!copies()) return;
  // The device buffers are free once the step that read them has run.
  if (slot.was_released) backend_->StreamWaitEvent(Stream::kCopy, slot.released);
  const auto copy = [&](const kernels::DeviceBuffer& to, const kernels::PinnedBuffer& from,
                        int64_t bytes) {
    if (bytes > 0) backend_->CopyToDevice(to.data(), from.data(), bytes, Stream::kCopy);
  };
  copy(slot.x, slot.host_x, rows * features_ * static_cast<int64_t>(sizeof(float)));
  if (label_width_ == 0) {
    copy(slot.class_ids, slot.host_class_ids, rows * static_cast<int64_t>(sizeof(int32_t)));
  } else {
    copy(slot.label_values, slot.host_label_values,
         rows * label_width_ * static_cast<int64_t>(sizeof(float)));
  }
  backend_->RecordEvent(slot.uploaded, Stream::kCopy);
  slot.was_uploaded = true;
}

BatchBuffers DeviceBatches::Use(int slot_index) {
  Slot& slot = slots_[static_cast<size_t>(slot_index)];
  if (copies() && slot.was_uploaded) backend_->StreamWaitEvent(Stream::kCompute, slot.uploaded);
  return DeviceBuffersOf(slot);
}

loss::Targets DeviceBatches::Targets(int slot_index) const {
  const Slot& slot = slots_[static_cast<size_t>(slot_index)];
  if (label_width_ > 0) return loss::Targets::Vectors(slot.label_values.floats(), label_width_);
  return loss::Targets::ClassIds(slot.class_ids.as<int32_t>());
}

void DeviceBatches::Release(int slot_index) {
  Slot& slot = slots_[static_cast<size_t>(slot_index)];
  if (!copies()) return;
  backend_->RecordEvent(slot.released, Stream::kCompute);
  slot.was_released = true;
}

}  // namespace shardtrain
