// The allocation errors shared by every backend (kernels/device_buffer.h).
#include "kernels/device_buffer.h"

#include <unistd.h>

#include <string>

namespace shardtrain::kernels {

namespace {

std::string_view MemoryName(MemoryKind kind) {
  return kind == MemoryKind::kDevice ? "device memory" : "pinned host memory";
}

}  // namespace

Status CheckAllocationSize(MemoryKind kind, int64_t bytes, std::string_view what) {
  if (bytes >= 0) return OkStatus();
  return InvalidArgumentError("cannot allocate " + std::string(MemoryName(kind)) + " for " +
                              std::string(what) + ": negative size (" + std::to_string(bytes) +
                              " bytes)");
}

Status OutOfMemoryError(MemoryKind kind, int64_t bytes, std::string_view what) {
  return ResourceExhaustedError("out of " + std::string(MemoryName(kind)) + " allocating " +
                                std::string(what) + " (" + std::to_string(bytes) + " bytes)");
}

bool ExceedsPhysicalMemory(int64_t bytes) {
  const int64_t pages = sysconf(_SC_PHYS_PAGES);
  const int64_t page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 && bytes > pages * page_size;
}

}  // namespace shardtrain::kernels
