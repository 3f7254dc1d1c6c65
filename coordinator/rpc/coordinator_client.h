// CoordinatorClient: a worker's connection to the coordinator. Connect()
// registers the rank and returns the job plan; SendHeartbeat() reports
// progress and learns whether the job was aborted; Done() says goodbye.
//
// Blocking I/O with timeouts on every read and write, so a dead coordinator
// is an Unavailable error naming it, never a hang. Thread-safe: each request
// and its reply hold a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

struct HeartbeatReply {
  bool abort = false;
  std::string reason;
};

class CoordinatorClient {
 public:
  // Connects to host:port (retrying until `timeout_seconds`: the coordinator
  // may still be starting) and registers `rank`. PermissionDenied when the
  // coordinator refuses the token; FailedPrecondition for other refusals.
  static StatusOr<std::unique_ptr<CoordinatorClient>> Connect(const std::string& host, int port,
                                                              const std::string& job_token,
                                                              int rank, int world_size,
                                                              double timeout_seconds);
  ~CoordinatorClient();

  const JobPlan& plan() const { return plan_; }
  StatusOr<HeartbeatReply> SendHeartbeat(const Heartbeat& heartbeat);
  Status Done();

  struct Socket;

 private:
  CoordinatorClient(std::unique_ptr<Socket> socket, std::string peer);
  StatusOr<Envelope> Call(const Envelope& request);

  std::mutex mutex_;
  std::unique_ptr<Socket> socket_;
  std::string peer_;  // "host:port", for messages
  JobPlan plan_;
};

}  // namespace shardtrain::coordinator
