#include "serving/staged_call.h"

#include <algorithm>
#include <string>

namespace shardtrain::serving {

StagedCall::~StagedCall() {
  // The error, if any, was the op's and has been returned; this only drains.
  if (device_ && !finished_) (void)backend_.Synchronize();
}

// At least one float, so that an empty tensor still gets a device pointer
// (backends refuse null where an op requires an argument).
StatusOr<float*> StagedCall::Allocate(int64_t n, std::string_view what) {
  const int64_t bytes = std::max<int64_t>(n, 1) * static_cast<int64_t>(sizeof(float));
  ASSIGN_OR_RETURN(kernels::DeviceBuffer buffer,
                   backend_.AllocateDevice(bytes, "serving " + std::string(what)));
  buffers_.push_back(std::move(buffer));
  return buffers_.back().floats();
}

StatusOr<const float*> StagedCall::In(const float* data, int64_t n, std::string_view what) {
  if (!device_) return data;
  ASSIGN_OR_RETURN(float* device, Allocate(n, what));
  if (n > 0) backend_.CopyToDevice(device, data, n * static_cast<int64_t>(sizeof(float)));
  return static_cast<const float*>(device);
}

StatusOr<float*> StagedCall::Out(float* data, int64_t n, std::string_view what) {
  if (!device_) return data;
  ASSIGN_OR_RETURN(float* device, Allocate(n, what));
  outputs_.push_back({data, device, n});
  return device;
}

StatusOr<float*> StagedCall::InOut(float* data, int64_t n, std::string_view what) {
  if (!device_) return data;
  ASSIGN_OR_RETURN(float* device, Out(data, n, what));
  if (n > 0) backend_.CopyToDevice(device, data, n * static_cast<int64_t>(sizeof(float)));
  return device;
}

Status StagedCall::Finish() {
  finished_ = true;
  if (!device_) return backend_.CheckErrors();
  for (const Output& out : outputs_) {
    if (out.n > 0) {
      backend_.CopyToHost(out.host, out.device, out.n * static_cast<int64_t>(sizeof(float)));
    }
  }
  return backend_.Synchronize();
}

}  // namespace shardtrain::serving
