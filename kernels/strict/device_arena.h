// DeviceArena: the strict emulated device's memory (strict_device_backend.h).
//
// Each allocation is its own anonymous mapping: whole pages holding the data,
// placed so that it ends on a 64-byte boundary as close as possible to the
// end of those pages, followed by one guard page. The pages stay PROT_NONE,
// so any host access faults (SIGSEGV at the offending line), except while an
// OpenAllocations scope has opened them for a backend op or copy. The guard
// page is never opened: an op running past the end of its buffer faults too.
// Not thread-safe (one per backend).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shardtrain::kernels::strict {

struct DeviceAllocation {
  char* data = nullptr;  // what the handle holds: 64-byte aligned
  int64_t bytes = 0;
  std::string what;           // the name given to AllocateDevice
  char* mapping = nullptr;    // the whole mapping, page aligned
  size_t mapped_bytes = 0;    // data pages + the guard page
  size_t openable_bytes = 0;  // the data pages
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

// Opens the given allocations (read and write) for its lifetime, each once,
// and protects them again when it goes.
class OpenAllocations {
 public:
  explicit OpenAllocations(std::vector<const DeviceAllocation*> allocations);
  OpenAllocations(const OpenAllocations&) = delete;
  OpenAllocations& operator=(const OpenAllocations&) = delete;
  ~OpenAllocations();
  // Internal when mprotect failed (then nothing is open and the op must not run).
  const Status& status() const { return status_; }

 private:
  std::vector<const DeviceAllocation*> allocations_;
  Status status_;
};

}  // namespace shardtrain::kernels::strict
