// DeviceArena and OpenAllocations (contract in device_arena.h).
#include "kernels/strict/device_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "kernels/device_buffer.h"

namespace shardtrain::kernels::strict {

namespace {

constexpr int64_t kAlignment = 64;

int64_t RoundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

Status ProtectionError(const DeviceAllocation& allocation, const char* access) {
  return InternalError("mprotect(" + std::string(access) + ") of device allocation " +
                       allocation.what + " failed: " + std::strerror(errno));
}

}  // namespace

DeviceArena::~DeviceArena() {
  for (auto& [address, allocation] : allocations_)
    munmap(allocation.mapping, allocation.mapped_bytes);
}

StatusOr<char*> DeviceArena::Allocate(int64_t bytes, std::string_view what) {
  if (ExceedsPhysicalMemory(bytes)) return OutOfMemoryError(MemoryKind::kDevice, bytes, what);
  const int64_t page = sysconf(_SC_PAGESIZE);
  DeviceAllocation allocation;
  allocation.openable_bytes = static_cast<size_t>(RoundUp(bytes, page));
  allocation.mapped_bytes = allocation.openable_bytes + static_cast<size_t>(page);
  void* mapping =
      mmap(nullptr, allocation.mapped_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return OutOfMemoryError(MemoryKind::kDevice, bytes, what);
  allocation.mapping = static_cast<char*>(mapping);
  allocation.data = allocation.mapping + allocation.openable_bytes - RoundUp(bytes, kAlignment);
  allocation.bytes = bytes;
  allocation.what = std::string(what);
  char* data = allocation.data;
  allocations_.emplace(reinterpret_cast<uintptr_t>(data), std::move(allocation));
  return data;
}

void DeviceArena::Free(const void* data) {
  auto it = allocations_.find(reinterpret_cast<uintptr_t>(data));
  if (it == allocations_.end()) return;
  munmap(it->second.mapping, it->second.mapped_bytes);
  allocations_.erase(it);
}

const DeviceAllocation* DeviceArena::Find(const void* pointer) const {
  const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
  auto it = allocations_.upper_bound(address);  // the first allocation after `pointer`
  if (it == allocations_.begin()) return nullptr;
  const DeviceAllocation& candidate = std::prev(it)->second;
  const uintptr_t start = reinterpret_cast<uintptr_t>(candidate.data);
  return address - start < static_cast<uintptr_t>(candidate.bytes) ? &candidate : nullptr;
}

OpenAllocations::OpenAllocations(std::vector<const DeviceAllocation*> allocations) {
  std::sort(allocations.begin(), allocations.end());
  allocations.erase(std::unique(allocations.begin(), allocations.end()), allocations.end());
  for (const DeviceAllocation* allocation : allocations) {
    if (mprotect(allocation->mapping, allocation->openable_bytes, PROT_READ | PROT_WRITE) != 0) {
      status_ = ProtectionError(*allocation, "PROT_READ|PROT_WRITE");
      break;
    }
    allocations_.push_back(allocation);
  }
  if (!status_.ok()) {
    for (const DeviceAllocation* allocation : allocations_) {
      mprotect(allocation->mapping, allocation->openable_bytes, PROT_NONE);
    }
    allocations_.clear();
  }
}

OpenAllocations::~OpenAllocations() {
  // A failure to protect again cannot be reported from here; it only loosens the checks.
  for (const DeviceAllocation* allocation : allocations_) {
    mprotect(allocation->mapping, allocation->openable_bytes, PROT_NONE);
  }
}

}  // namespace shardtrain::kernels::strict
