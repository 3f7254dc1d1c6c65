// Host access to device arrays for code that must read or fill them on the
// host (the loss's per-example losses and target preparation, the metrics).
//
// On a backend whose device memory is host memory (host_reads_device_memory(),
// the CPU backend) both classes hand out the device pointers themselves: no
// copy, no wait, no cost. Elsewhere they go through page-locked buffers
// allocated once at Create:
// - HostReads: Read() enqueues a copy of a device array into its pinned buffer
//   and returns where the host will find it; Wait() waits for the copies (the
//   backend's Synchronize, which also reports its recorded errors) and
//   recycles the buffer for the next batch.
// - MirroredArray: a device array plus the host memory code fills it through
//   (host()); Upload() enqueues host() -> device().
// Not thread-safe. Every call takes the backend given to Create, which must
// outlive both.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kernels/backend.h"

namespace shardtrain::loss {

class HostReads {
 public:
  // Room for reads of up to `capacity_bytes` in all between two Wait()s.
  // `what` names the pinned buffer in allocation errors.
  // Read and Wait take the same backend.
  static StatusOr<HostReads> Create(kernels::KernelBackend& backend, int64_t capacity_bytes,
                                    std::string_view what);

  // The capacity that reads of the given byte counts need between two Wait()s
  // (each read starts on a 64-byte boundary).
  static int64_t CapacityFor(std::initializer_list<int64_t> read_bytes);

  // Where the host reads `count` values of the device array `device` after
  // Wait(): `device` itself when the host reads device memory, else a copy.
  // Reads beyond the capacity return null and make Wait() an InternalError.
  template <typename T>
  const T* Read(kernels::KernelBackend& backend, const T* device, int64_t count) {
    return static_cast<const T*>(
        ReadBytes(backend, device, count * static_cast<int64_t>(sizeof(T))));
  }
  // Waits for the reads enqueued since the last Wait() and frees their room.
  Status Wait(kernels::KernelBackend& backend);

 private:
  const void* ReadBytes(kernels::KernelBackend& backend, const void* device, int64_t bytes);

  bool copies_ = false;            // false when the host reads device memory
  kernels::PinnedBuffer staging_;  // used when copies_
  std::string what_;
  int64_t used_ = 0;      // bytes handed out since the last Wait()
  int64_t overflow_ = 0;  // bytes asked beyond the capacity (0 = none)
};

class MirroredArray {
 public:
  // A device array of `bytes` bytes named `what`, and its host side.
  static StatusOr<MirroredArray> Create(kernels::KernelBackend& backend, int64_t bytes,
                                        std::string_view what);

  void* device() const { return device_.data(); }
  // The memory host code fills: device() when the host reads device memory.
  void* host() const { return host_.empty() ? device_.data() : host_.data(); }
  template <typename T>
  T* host_as() const {
    return static_cast<T*>(host());
  }
  template <typename T>
  T* device_as() const {
    return static_cast<T*>(device());
  }
  // Enqueues the copy of host()'s first `bytes` bytes to device() (none when
  // they are the same memory).
  void Upload(kernels::KernelBackend& backend, int64_t bytes) const;

 private:
  kernels::DeviceBuffer device_;
  kernels::PinnedBuffer host_;  // empty when the host reads device memory
};

}  // namespace shardtrain::loss
