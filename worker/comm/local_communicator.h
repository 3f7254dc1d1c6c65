// LocalCommunicator: the one-rank communicator. Every collective is a no-op
// after its arguments are checked (a sum over one rank is the value itself),
// so it serves host and device buffers alike.
// Thread-safety: stateless; safe from any thread.
#pragma once

#include "worker/comm/communicator.h"

namespace shardtrain::comm {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string_view name() const override { return "local"; }
  bool touches_buffers() const override { return false; }
  Status AllReduceSum(void* data, int64_t count, DType dtype) override;
  Status Broadcast(void* data, int64_t bytes, int root) override;
  Status Barrier() override;
};

}  // namespace shardtrain::comm
