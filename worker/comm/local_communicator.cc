// LocalCommunicator: argument checks only. Thread-safety: stateless.
#include "worker/comm/local_communicator.h"

namespace shardtrain::comm {

Status LocalCommunicator::AllReduceSum(void* data, int64_t count, DType dtype) {
  return ValidateAllReduceArgs(data, count, dtype);
}

Status LocalCommunicator::Broadcast(void* data, int64_t bytes, int root) {
  return ValidateBroadcastArgs(data, bytes, root, /*world_size=*/1);
}

Status LocalCommunicator::Barrier() { return OkStatus(); }

}  // namespace shardtrain::comm
