// Owning handles of what a KernelBackend allocates (kernels/backend.h,
// "Memory, copies, streams and events"): device memory, page-locked host
// memory and events, plus the streams ops and copies are enqueued on.
//
// Handles are move-only. Each one is released through the backend that made
// it (a MemoryReleaser), so that backend must outlive its handles. An empty
// handle (default-constructed, moved from, reset, or a 0-byte allocation) has
// data() == nullptr and releases nothing.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace shardtrain::kernels {

// Ops run on kCompute; kCopy and kCommunication let copies and collectives
// overlap with compute on backends with real streams (CUDA). On a backend
// without them every stream executes in program order.
enum class Stream : int { kCompute = 0, kCopy = 1, kCommunication = 2 };
inline constexpr int kNumStreams = 3;

enum class MemoryKind : int { kDevice = 0, kPinned = 1 };

// Frees what a backend allocated; implemented by every backend. Called from
// handle destructors: must not throw and cannot report errors.
class MemoryReleaser {
 public:
  virtual void ReleaseMemory(MemoryKind kind, void* data, int64_t bytes) noexcept = 0;
  virtual void ReleaseEvent(void* state) noexcept = 0;

 protected:
  ~MemoryReleaser() = default;
};

namespace internal {

// The shared body of DeviceBuffer and PinnedBuffer: `bytes` bytes at `data`
// of memory `Kind`, released through `releaser`.
template <MemoryKind Kind>
class MemoryHandle {
 public:
  MemoryHandle() = default;
  MemoryHandle(void* data, int64_t bytes, MemoryReleaser* releaser)
      : data_(data), bytes_(bytes), releaser_(releaser) {}
  MemoryHandle(MemoryHandle&& other) noexcept
      : data_(other.data_), bytes_(other.bytes_), releaser_(other.releaser_) {
    other.Forget();
  }
  MemoryHandle& operator=(MemoryHandle&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = other.data_;
      bytes_ = other.bytes_;
      releaser_ = other.releaser_;
      other.Forget();
    }
    return *this;
  }
  MemoryHandle(const MemoryHandle&) = delete;
  MemoryHandle& operator=(const MemoryHandle&) = delete;
  ~MemoryHandle() { reset(); }

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }
  bool empty() const { return data_ == nullptr; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  float* floats() const { return as<float>(); }

  // Releases the memory now; the handle becomes empty.
  void reset() {
    if (data_ != nullptr && releaser_ != nullptr) releaser_->ReleaseMemory(Kind, data_, bytes_);
    Forget();
  }

 private:
  void Forget() {
    data_ = nullptr;
    bytes_ = 0;
    releaser_ = nullptr;
  }

  void* data_ = nullptr;
  int64_t bytes_ = 0;
  MemoryReleaser* releaser_ = nullptr;
};

}  // namespace internal

// Memory on the backend's device. Host code may dereference data() only where
// KernelBackend::host_reads_device_memory() is true (the CPU backend).
class DeviceBuffer : public internal::MemoryHandle<MemoryKind::kDevice> {
 public:
  using MemoryHandle::MemoryHandle;
};

// Host memory the host may read and write, from and to which the backend
// copies asynchronously (page-locked on CUDA).
class PinnedBuffer : public internal::MemoryHandle<MemoryKind::kPinned> {
 public:
  using MemoryHandle::MemoryHandle;
};

// An opaque point in a stream's work (KernelBackend::RecordEvent); the
// backend's state behind it is reached through state(), only by the backend
// that made it (made_by).
//
// How the backends treat misuse of the memory calls:
// - an empty event, or one another backend made, given to RecordEvent,
//   StreamWaitEvent or WaitEvent: CUDA and the strict device record
//   FailedPrecondition "<call>: the event is empty" / "<call>: the event
//   belongs to another backend" (returned by CheckErrors, Synchronize and
//   WaitEvent) and do nothing; the CPU backend, whose events are complete at
//   once and which never reads state(), accepts any event and does nothing.
// - a negative copy size: CUDA and the strict device record InvalidArgument
//   "<call>: negative size <bytes>" and copy nothing; the CPU backend, whose
//   CheckErrors is always OK, copies nothing.
class Event {
 public:
  Event() = default;
  Event(void* state, MemoryReleaser* releaser) : state_(state), releaser_(releaser) {}
  Event(Event&& other) noexcept : state_(other.state_), releaser_(other.releaser_) {
    other.state_ = nullptr;
    other.releaser_ = nullptr;
  }
  Event& operator=(Event&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = other.state_;
      releaser_ = other.releaser_;
      other.state_ = nullptr;
      other.releaser_ = nullptr;
    }
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { reset(); }

  bool empty() const { return state_ == nullptr; }
  // True when `backend` made this event: a backend checks it before reading
  // state(), whose type only the backend that made it knows (an empty event
  // was made by none).
  bool made_by(const MemoryReleaser* backend) const {
    return state_ != nullptr && releaser_ == backend;
  }
  // The backend's own object (a cudaEvent_t, a bookkeeping record).
  void* state() const { return state_; }
  void reset() {
    if (state_ != nullptr && releaser_ != nullptr) releaser_->ReleaseEvent(state_);
    state_ = nullptr;
    releaser_ = nullptr;
  }

 private:
  void* state_ = nullptr;
  MemoryReleaser* releaser_ = nullptr;
};

// The allocation errors every backend returns: InvalidArgument for bytes < 0;
// ResourceExhausted "out of device memory allocating <what> (<bytes> bytes)"
// (kPinned: "out of pinned host memory ...").
Status CheckAllocationSize(MemoryKind kind, int64_t bytes, std::string_view what);
Status OutOfMemoryError(MemoryKind kind, int64_t bytes, std::string_view what);
// True when `bytes` exceeds the machine's physical memory: backends whose
// device memory is host memory refuse such sizes up front instead of having
// them overcommitted (and killed on first touch) or stopping a sanitizer.
bool ExceedsPhysicalMemory(int64_t bytes);

}  // namespace shardtrain::kernels
