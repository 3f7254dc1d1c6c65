// StrictDeviceBackend's argument checks, memory, copies and events (contract
// in strict_device_backend.h); the ops are in strict_ops.cc.
#include "kernels/strict/strict_device_backend.h"

#include <cstring>
#include <string>

namespace shardtrain::kernels {

std::unique_ptr<KernelBackend> CreateStrictDeviceBackend() {
  return std::make_unique<strict::StrictDeviceBackend>();
}

namespace strict {

// An event is complete once recorded (streams run in program order); the
// bookkeeping catches waits on events never recorded.
struct StrictDeviceBackend::EventState {
  bool recorded = false;
};

bool StrictDeviceBackend::Record(const Status& status) {
  if (!status.ok() && status_.ok()) status_ = status;
  return status.ok();
}

Status StrictDeviceBackend::CheckErrors() {
  Status status = std::move(status_);
  status_ = OkStatus();
  return status;
}

bool StrictDeviceBackend::FindAllocations(const char* op, std::initializer_list<Arg> args,
                                          std::vector<const DeviceAllocation*>* allocations) {
  for (const Arg& arg : args) {
    if (arg.pointer == nullptr) {
      if (arg.optional) continue;
      return Record(
          FailedPreconditionError(std::string(op) + ": argument " + arg.name + " is null"));
    }
    const DeviceAllocation* allocation = arena_.Find(arg.pointer);
    if (allocation == nullptr) {
      return Record(FailedPreconditionError(std::string(op) + ": argument " + arg.name +
                                            " is not device memory"));
    }
    allocations->push_back(allocation);
  }
  return true;
}

StatusOr<DeviceBuffer> StrictDeviceBackend::AllocateDevice(int64_t bytes, std::string_view what) {
  RETURN_IF_ERROR(CheckAllocationSize(MemoryKind::kDevice, bytes, what));
  if (bytes == 0) return DeviceBuffer();
  ASSIGN_OR_RETURN(char* data, arena_.Allocate(bytes, what));
  return DeviceBuffer(data, bytes, this);
}

StatusOr<PinnedBuffer> StrictDeviceBackend::AllocatePinned(int64_t bytes, std::string_view what) {
  return cpu_.AllocatePinned(bytes, what);
}

void StrictDeviceBackend::ReleaseMemory(MemoryKind kind, void* data, int64_t bytes) noexcept {
  arena_.Free(data);
}

bool StrictDeviceBackend::CheckCopySide(const char* op, const char* name, const void* pointer,
                                        int64_t bytes, bool device,
                                        std::vector<const DeviceAllocation*>* allocations) {
  const DeviceAllocation* allocation = arena_.Find(pointer);
  const std::string prefix = std::string(op) + ": argument " + name;
  if (!device) {
    if (allocation == nullptr) return true;
    return Record(FailedPreconditionError(prefix + " is device memory (" + allocation->what +
                                          "), not host memory"));
  }
  if (allocation == nullptr)
    return Record(FailedPreconditionError(prefix + " is not device memory"));
  const int64_t offset = static_cast<const char*>(pointer) - allocation->data;
  if (bytes > allocation->bytes - offset) {
    return Record(FailedPreconditionError(prefix + ": " + std::to_string(bytes) +
                                          " bytes at offset " + std::to_string(offset) +
                                          " overrun device allocation " + allocation->what + " (" +
                                          std::to_string(allocation->bytes) + " bytes)"));
  }
  allocations->push_back(allocation);
  return true;
}

void StrictDeviceBackend::Copy(const char* op, void* dst, bool dst_device, const void* src,
                               bool src_device, int64_t bytes) {
  if (bytes < 0) {
    Record(InvalidArgumentError(std::string(op) + ": negative size " + std::to_string(bytes)));
    return;
  }
  if (bytes == 0) return;
  std::vector<const DeviceAllocation*> allocations;
  const char* dst_name = dst_device ? "device_dst" : "host_dst";
  const char* src_name = src_device ? "device_src" : "host_src";
  if (!CheckCopySide(op, dst_name, dst, bytes, dst_device, &allocations) ||
      !CheckCopySide(op, src_name, src, bytes, src_device, &allocations)) {
    return;
  }
  OpenAllocations open(std::move(allocations));
  if (!Record(open.status())) return;
  std::memmove(dst, src, static_cast<size_t>(bytes));
  Record(open.Close(op));
}

void StrictDeviceBackend::CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                                       Stream stream) {
  Copy("CopyToDevice", device_dst, true, host_src, false, bytes);
}

void StrictDeviceBackend::CopyToHost(void* host_dst, const void* device_src, int64_t bytes,
                                     Stream stream) {
  Copy("CopyToHost", host_dst, false, device_src, true, bytes);
}

void StrictDeviceBackend::CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                                       Stream stream) {
  Copy("CopyOnDevice", device_dst, true, device_src, true, bytes);
}

StatusOr<Event> StrictDeviceBackend::CreateEvent() { return Event(new EventState, this); }

void StrictDeviceBackend::ReleaseEvent(void* state) noexcept {
  delete static_cast<EventState*>(state);
}

StrictDeviceBackend::EventState* StrictDeviceBackend::CheckEvent(const char* op,
                                                                 const Event& event) {
  if (event.made_by(this)) return static_cast<EventState*>(event.state());
  Record(FailedPreconditionError(
      std::string(op) +
      (event.empty() ? ": the event is empty" : ": the event belongs to another backend")));
  return nullptr;
}

void StrictDeviceBackend::RecordEvent(Event& event, Stream stream) {
  EventState* state = CheckEvent("RecordEvent", event);
  if (state != nullptr) state->recorded = true;
}

void StrictDeviceBackend::StreamWaitEvent(Stream stream, const Event& event) {
  EventState* state = CheckEvent("StreamWaitEvent", event);
  if (state != nullptr && !state->recorded) {
    Record(FailedPreconditionError("StreamWaitEvent: the event was never recorded"));
  }
}

Status StrictDeviceBackend::WaitEvent(const Event& event) {
  EventState* state = CheckEvent("WaitEvent", event);
  if (state != nullptr && !state->recorded) {
    Record(FailedPreconditionError("WaitEvent: the event was never recorded"));
  }
  return CheckErrors();
}

}  // namespace strict
}  // namespace shardtrain::kernels
