// DeviceBatches: the trainer's batch slots, each a batch gathered on the host
// and uploaded to the backend's device memory. Two on a device the host cannot
// read, so that the upload of step n+1 (on Stream::kCopy) overlaps step n's
// compute (on Stream::kCompute); one on a backend whose device memory is host
// memory (host_reads_device_memory, the CPU backend), where nothing overlaps.
//
// A slot's life, in the order the trainer calls:
//   host(slot)    where to gather the batch: pinned host memory; on the CPU
//                 backend the slot's device buffers themselves, so the CPU
//                 path gathers once and copies nothing.
//                 Waits first (host) until the slot's previous upload has read
//                 the pinned buffers.
//   Upload(slot)  enqueues the copy of its rows to the device on kCopy, after
//                 kCompute has finished with the slot's previous batch (event),
//                 and records the slot's `uploaded` event.
//   Use(slot)     kCompute waits for that upload (no host wait); returns the
//                 device pointers the step reads.
//   Release(slot) records on kCompute that the step has enqueued its reads.
// Events are recorded before they are waited on, so the strict device and
// CUDA see the same order. Buffers and events are made once in Create(); the
// slot calls allocate nothing. Not thread-safe.
#pragma once

#include <array>
#include <cstdint>

#include "common/status.h"
#include "kernels/backend.h"
#include "worker/loss/targets.h"

namespace shardtrain {

// One batch's buffers: features (rows, features), class ids (rows), or
// label_width floats per row for a VECTOR label.
struct BatchBuffers {
  float* x = nullptr;
  int32_t* class_ids = nullptr;
  float* label_values = nullptr;
};

class DeviceBatches {
 public:
  static constexpr int kMaxSlots = 2;

  // Slots of up to `max_rows` rows of `features` floats and their targets
  // (`label_width` floats per row; 0: one class id). ResourceExhausted naming
  // the buffer when device or pinned memory runs out.
  static StatusOr<DeviceBatches> Create(kernels::KernelBackend& backend, int64_t max_rows,
                                        int64_t features, int64_t label_width);

  // Slots: 2 where uploads overlap compute, else 1. Slot indices are below it.
  int num_slots() const { return copies() ? kMaxSlots : 1; }
  // The slot after `slot`, round robin.
  int NextSlot(int slot) const { return (slot + 1) % num_slots(); }

  // The host buffers to gather slot `slot`'s next batch into (see above).
  // Waiting for the slot's previous upload also reports the backend's first
  // error since the last check (KernelBackend::WaitEvent).
  StatusOr<BatchBuffers> host(int slot);
  // Enqueues the upload of the first `rows` rows of slot `slot`.
  void Upload(int slot, int64_t rows);
  // The slot's device buffers, ordered after its upload on kCompute.
  BatchBuffers Use(int slot);
  // The slot's targets as the loss and the metrics read them (device memory).
  loss::Targets Targets(int slot) const;
  // The step has enqueued every read of the slot.
  void Release(int slot);

 private:
  struct Slot {
    kernels::DeviceBuffer x, class_ids, label_values;
    kernels::PinnedBuffer host_x, host_class_ids, host_label_values;
    kernels::Event uploaded, released;
    bool was_uploaded = false;
    bool was_released = false;
  };
  bool copies() const { return !backend_->host_reads_device_memory(); }
  static BatchBuffers DeviceBuffersOf(const Slot& slot);

  kernels::KernelBackend* backend_ = nullptr;
  int64_t features_ = 0;
  int64_t label_width_ = 0;
  std::array<Slot, kMaxSlots> slots_;
};

}  // namespace shardtrain
