#include "worker/loss/host_staging.h"

namespace shardtrain::loss {
namespace {

// Reads start on 64-byte boundaries, as every backend aligns its buffers.
constexpr int64_t kAlignment = 64;

int64_t AlignUp(int64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

int64_t HostReads::CapacityFor(std::initializer_list<int64_t> read_bytes) {
  int64_t capacity = 0;
  for (int64_t bytes : read_bytes) capacity += AlignUp(bytes);
  return capacity;
}

StatusOr<HostReads> HostReads::Create(kernels::KernelBackend& backend, int64_t capacity_bytes,
                                      std::string_view what) {
  HostReads reads;
  reads.what_ = std::string(what);
  reads.copies_ = !backend.host_reads_device_memory();
  if (reads.copies_) {
    ASSIGN_OR_RETURN(reads.staging_, backend.AllocatePinned(capacity_bytes, what));
  }
  return reads;
}

const void* HostReads::ReadBytes(kernels::KernelBackend& backend, const void* device,
                                 int64_t bytes) {
  if (!copies_ || device == nullptr) return device;
  const int64_t offset = used_;
  if (offset + bytes > staging_.bytes()) {
    overflow_ += bytes;
    return nullptr;
  }
  used_ = AlignUp(offset + bytes);
  char* host = staging_.as<char>() + offset;
  backend.CopyToHost(host, device, bytes);
  return host;
}

Status HostReads::Wait(kernels::KernelBackend& backend) {
  if (!copies_) return OkStatus();
  const int64_t overflow = overflow_;
  used_ = 0;
  overflow_ = 0;
  RETURN_IF_ERROR(backend.Synchronize());
  if (overflow > 0) {
    return InternalError("the host copy buffer of " + what_ + " (" +
                         std::to_string(staging_.bytes()) + " bytes) is " +
                         std::to_string(overflow) + " bytes short");
  }
  return OkStatus();
}

StatusOr<MirroredArray> MirroredArray::Create(kernels::KernelBackend& backend, int64_t bytes,
                                              std::string_view what) {
  MirroredArray array;
  ASSIGN_OR_RETURN(array.device_, backend.AllocateDevice(bytes, what));
  if (!backend.host_reads_device_memory()) {
    ASSIGN_OR_RETURN(array.host_,
                     backend.AllocatePinned(bytes, std::string(what) + " (host side)"));
  }
  return array;
}

void MirroredArray::Upload(kernels::KernelBackend& backend, int64_t bytes) const {
  if (host_.empty() || bytes == 0) return;
  backend.CopyToDevice(device_.data(), host_.data(), bytes);
}

}  // namespace shardtrain::loss
