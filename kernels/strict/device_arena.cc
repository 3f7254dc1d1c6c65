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

constexpr int64_t kAlignment = 16;
// What the slack around the data holds; an op writing there changes it.
constexpr unsigned char kSlackPattern = 0xA5;

int64_t RoundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

Status ProtectionError(const DeviceAllocation& allocation, const char* access) {
  return InternalError("mprotect(" + std::string(access) + ") of device allocation " +
                       allocation.what + " failed: " + std::strerror(errno));
}

// The slack of `a`: [pages, data) and [data + bytes, slack_end).
std::pair<char*, char*> FrontSlack(const DeviceAllocation& a) { return {a.pages, a.data}; }
std::pair<char*, char*> TailSlack(const DeviceAllocation& a) {
  return {a.data + a.bytes, a.slack_end};
}

void FillSlack(const DeviceAllocation& a) {
  for (auto [begin, end] : {FrontSlack(a), TailSlack(a)})
    std::memset(begin, kSlackPattern, static_cast<size_t>(end - begin));
}

bool SlackIntact(const DeviceAllocation& a) {
  for (auto [begin, end] : {FrontSlack(a), TailSlack(a)}) {
    if (!std::all_of(begin, end,
                     [](char c) { return static_cast<unsigned char>(c) == kSlackPattern; }))
      return false;
  }
  return true;
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
  allocation.page_bytes = static_cast<size_t>(RoundUp(bytes, page));
  allocation.mapped_bytes = allocation.page_bytes + 2 * static_cast<size_t>(page);
  void* mapping =
      mmap(nullptr, allocation.mapped_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return OutOfMemoryError(MemoryKind::kDevice, bytes, what);
  allocation.mapping = static_cast<char*>(mapping);
  allocation.pages = allocation.mapping + page;
  allocation.slack_end = allocation.pages + allocation.page_bytes;
  allocation.data = allocation.slack_end - RoundUp(bytes, kAlignment);
  allocation.bytes = bytes;
  allocation.what = std::string(what);
  if (mprotect(allocation.pages, allocation.page_bytes, PROT_READ | PROT_WRITE) != 0) {
    Status error = ProtectionError(allocation, "PROT_READ|PROT_WRITE");
    munmap(mapping, allocation.mapped_bytes);
    return error;
  }
  FillSlack(allocation);
  mprotect(allocation.pages, allocation.page_bytes, PROT_NONE);
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
    if (mprotect(allocation->pages, allocation->page_bytes, PROT_READ | PROT_WRITE) != 0) {
      status_ = ProtectionError(*allocation, "PROT_READ|PROT_WRITE");
      Protect();
      return;
    }
    allocations_.push_back(allocation);
  }
}

Status OpenAllocations::Close(std::string_view op) {
  Status status;
  for (const DeviceAllocation* allocation : allocations_) {
    if (SlackIntact(*allocation)) continue;
    if (status.ok()) {
      status = FailedPreconditionError(std::string(op) + " wrote outside device allocation " +
                                       allocation->what + " (" + std::to_string(allocation->bytes) +
                                       " bytes)");
    }
    FillSlack(*allocation);
  }
  Protect();
  return status;
}

void OpenAllocations::Protect() {
  // A failure to protect again cannot be reported; it only loosens the checks.
  for (const DeviceAllocation* allocation : allocations_) {
    mprotect(allocation->pages, allocation->page_bytes, PROT_NONE);
  }
  allocations_.clear();
}

}  // namespace shardtrain::kernels::strict
