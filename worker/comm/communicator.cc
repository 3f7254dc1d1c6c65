// Communicator base: argument checks shared by every implementation.
// Thread-safety: stateless functions.
#include "worker/comm/communicator.h"

#include <string>

namespace shardtrain::comm {

Communicator::~Communicator() = default;

StatusOr<float*> Communicator::AllocateGradientBuffer(int64_t count) {
  if (count < 0) {
    return InvalidArgumentError("AllocateGradientBuffer: negative count " + std::to_string(count));
  }
  return static_cast<float*>(nullptr);
}

Status Communicator::AllReduceSumHostScalars(double* values, int count) {
  if (count < 0 || count > kMaxHostScalars) {
    return InvalidArgumentError("AllReduceSumHostScalars: count " + std::to_string(count) +
                                " outside [0, " + std::to_string(kMaxHostScalars) + "]");
  }
  return AllReduceSum(values, count, DType::kFloat64);
}

Status ValidateAllReduceArgs(const void* data, int64_t count, DType dtype) {
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kInt64) {
    return InvalidArgumentError("AllReduceSum: dtype " + std::string(DTypeName(dtype)) +
                                " is not supported (float32, float64, int64)");
  }
  if (count < 0) {
    return InvalidArgumentError("AllReduceSum: negative count " + std::to_string(count));
  }
  if (count > 0 && data == nullptr) {
    return InvalidArgumentError("AllReduceSum: null buffer for " + std::to_string(count) +
                                " elements");
  }
  return OkStatus();
}

Status ValidateBroadcastArgs(const void* data, int64_t bytes, int root, int world_size) {
  if (root < 0 || root >= world_size) {
    return InvalidArgumentError("Broadcast: root " + std::to_string(root) + " outside [0, " +
                                std::to_string(world_size) + ")");
  }
  if (bytes < 0) {
    return InvalidArgumentError("Broadcast: negative size " + std::to_string(bytes));
  }
  if (bytes > 0 && data == nullptr) {
    return InvalidArgumentError("Broadcast: null buffer for " + std::to_string(bytes) + " bytes");
  }
  return OkStatus();
}

}  // namespace shardtrain::comm
