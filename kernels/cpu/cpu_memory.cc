// CpuBackend's memory section (kernels/cpu/cpu_backend.h): device and pinned
// buffers are 64-byte aligned host memory, copies are memcpy, events are
// complete at once. Misuse is not checked (CheckErrors is always OK): any
// event, empty or another backend's, is accepted and its state() never read;
// a copy of a negative size copies nothing (kernels/device_buffer.h, Event).
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_backend.h"

namespace shardtrain::kernels::cpu {

namespace {

constexpr int64_t kAlignment = 64;

// 64-byte aligned memory of at least `bytes` (> 0) bytes, or null.
void* AlignedAllocate(int64_t bytes) {
  if (ExceedsPhysicalMemory(bytes)) return nullptr;
  const int64_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  return std::aligned_alloc(kAlignment, static_cast<size_t>(rounded));
}

}  // namespace

StatusOr<DeviceBuffer> CpuBackend::AllocateDevice(int64_t bytes, std::string_view what) {
  RETURN_IF_ERROR(CheckAllocationSize(MemoryKind::kDevice, bytes, what));
  if (bytes == 0) return DeviceBuffer();
  void* data = AlignedAllocate(bytes);
  if (data == nullptr) return OutOfMemoryError(MemoryKind::kDevice, bytes, what);
  return DeviceBuffer(data, bytes, this);
}

StatusOr<PinnedBuffer> CpuBackend::AllocatePinned(int64_t bytes, std::string_view what) {
  RETURN_IF_ERROR(CheckAllocationSize(MemoryKind::kPinned, bytes, what));
  if (bytes == 0) return PinnedBuffer();
  void* data = AlignedAllocate(bytes);
  if (data == nullptr) return OutOfMemoryError(MemoryKind::kPinned, bytes, what);
  return PinnedBuffer(data, bytes, this);
}

void CpuBackend::ReleaseMemory(MemoryKind kind, void* data, int64_t bytes) noexcept {
  std::free(data);
}

void CpuBackend::CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                              Stream stream) {
  if (bytes > 0) std::memcpy(device_dst, host_src, static_cast<size_t>(bytes));
}

void CpuBackend::CopyToHost(void* host_dst, const void* device_src, int64_t bytes, Stream stream) {
  if (bytes > 0) std::memcpy(host_dst, device_src, static_cast<size_t>(bytes));
}

void CpuBackend::CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                              Stream stream) {
  // memmove: a caller's overlapping ranges are not undefined behaviour on the host.
  if (bytes > 0) std::memmove(device_dst, device_src, static_cast<size_t>(bytes));
}

StatusOr<Event> CpuBackend::CreateEvent() {
  // Every event is complete at once; a non-null state only marks it as created.
  static char complete;
  return Event(&complete, this);
}

}  // namespace shardtrain::kernels::cpu
