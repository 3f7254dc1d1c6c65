// DeviceArena: the strict emulated device's memory (strict_device_backend.h).
//
// Each allocation is its own anonymous mapping: a guard page, whole pages
// holding the data, and another guard page. The data is 16-byte aligned
// (enough for the CPU kernels) and ends within 15 bytes of the back guard
// page: exactly at it when its size is a multiple of 16. The slack around the
// data in its pages (before it, less than a page; after it, less than 16
// bytes) holds a known byte pattern. The pages stay PROT_NONE, so any host
// access faults (SIGSEGV at the offending line), except while an
// OpenAllocations scope has opened them for a backend op or copy. The guard
// pages are never opened: an op running past either end of its pages faults;
// one writing into the slack is caught when the scope closes (Close). Reads of
// the slack go unnoticed. Not thread-safe (one per backend).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shardtrain::kernels::strict {

struct DeviceAllocation {
  char* data = nullptr;  // what the handle holds: 16-byte aligned
  int64_t bytes = 0;
  std::string what;           // the name given to AllocateDevice
  char* mapping = nullptr;    // the whole mapping, page aligned
  size_t mapped_bytes = 0;    // the guard pages + the data pages
  char* pages = nullptr;      // the data pages, after the front guard page
  size_t page_bytes = 0;      // their size
  char* slack_end = nullptr;  // data + bytes rounded up to 16: the tail slack ends here
};

class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena();  // unmaps what is left

  // A protected allocation of `bytes` > 0 bytes; ResourceExhausted naming `what`.
  StatusOr<char*> Allocate(int64_t bytes, std::string_view what);
  // Unmaps the allocation that starts at `data` (does nothing for others).
  void Free(const void* data);
  // The allocation whose [data, data + bytes) holds `pointer`, or null.
  const DeviceAllocation* Find(const void* pointer) const;

 private:
  std::map<uintptr_t, DeviceAllocation> allocations_;  // by data address
};

// Opens the given allocations (read and write), each once, until Close() or
// its end, which protect them again.
class OpenAllocations {
 public:
  explicit OpenAllocations(std::vector<const DeviceAllocation*> allocations);
  OpenAllocations(const OpenAllocations&) = delete;
  OpenAllocations& operator=(const OpenAllocations&) = delete;
  ~OpenAllocations() { Protect(); }
  // Internal when mprotect failed (then nothing is open and the op must not run).
  const Status& status() const { return status_; }
  // Checks each allocation's slack, restores its pattern and protects them
  // all: FailedPrecondition "<op> wrote outside device allocation <what>
  // (<bytes> bytes)" for the first one `op` wrote outside of.
  Status Close(std::string_view op);

 private:
  void Protect();

  std::vector<const DeviceAllocation*> allocations_;
  Status status_;
};

}  // namespace shardtrain::kernels::strict
