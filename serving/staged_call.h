// StagedCall: runs one KernelBackend op over the float data of host Tensors
// on any backend. The serving runtime's Tensors are host objects; on a backend
// whose device memory the host reads (the CPU) the op gets the host pointers
// themselves (no copy, no allocation), elsewhere (CUDA, the strict device)
// each input is copied into a device buffer of its own (AllocateDevice +
// CopyToDevice), the op runs on device pointers, and Finish() copies each
// output back (CopyToHost) and waits (Synchronize).
//
// Usage: take the op's pointers from In/Out/InOut, run the op, then Finish().
// Errors: AllocateDevice's ResourceExhausted naming `what`; Finish() returns
// the backend's first recorded error (a failed copy or op). The caller names
// the node. One StagedCall per op; not thread-safe (nor is the backend: the
// caller serializes device calls).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"

namespace shardtrain::serving {

class StagedCall {
 public:
  explicit StagedCall(kernels::KernelBackend& backend)
      : backend_(backend), device_(!backend.host_reads_device_memory()) {}
  StagedCall(const StagedCall&) = delete;
  StagedCall& operator=(const StagedCall&) = delete;
  // Waits for the copies still queued when Finish() was not reached (an
  // earlier error), so no buffer is released under them.
  ~StagedCall();

  // Whether data is staged through device buffers (the backend's memory is
  // not host memory).
  bool staged() const { return device_; }
  // The pointer the op reads `n` floats of host `data` through.
  StatusOr<const float*> In(const float* data, int64_t n, std::string_view what);
  // The pointer the op writes `n` floats through; Finish() copies them into
  // `data`. Its device memory starts undefined: for ops that write every element.
  StatusOr<float*> Out(float* data, int64_t n, std::string_view what);
  // As Out, starting from a copy of `data` (in-place ops, partial writes).
  StatusOr<float*> InOut(float* data, int64_t n, std::string_view what);
  // Copies the outputs back and waits; the backend's first error, if any.
  Status Finish();

 private:
  struct Output {
    float* host;
    const float* device;
    int64_t n;
  };
  StatusOr<float*> Allocate(int64_t n, std::string_view what);

  kernels::KernelBackend& backend_;
  const bool device_;
  bool finished_ = false;
  std::vector<kernels::DeviceBuffer> buffers_;
  std::vector<Output> outputs_;
};

}  // namespace shardtrain::serving
