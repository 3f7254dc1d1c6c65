// Coordinator: the control plane of a job. Workers register (with the job
// token when one is set), learn the job plan (seed, batch, shard sizes; see
// shard_planner.h), and heartbeat their progress. A rank whose connection
// drops before it said Done, or that is silent for longer than the heartbeat
// timeout, aborts the job: every later heartbeat reply carries abort + the
// reason naming the rank, and aborted() turns true for the hosting process.
// A peer sending a malformed or oversized frame, or a wrong token, is logged
// and disconnected; the coordinator keeps serving the others.
//
// GET /status on the HTTP port returns the job's progress as JSON.
//
// Runs Boost.Asio on one thread of its own; the public methods are
// thread-safe. Binds 127.0.0.1 by default; any other address needs a token.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::coordinator {

struct CoordinatorOptions {
  std::string host = "127.0.0.1";
  int port = 0;        // 0: an ephemeral port (see Coordinator::port())
  int http_port = 0;   // 0: ephemeral; -1: no HTTP status endpoint
  int world_size = 1;
  std::string job_token;  // required from workers when not empty
  double heartbeat_timeout_seconds = 60;
  uint64_t seed = 0;
  bool shuffle = true;
  int64_t global_batch = 0;
  std::vector<int64_t> shard_sizes;
  size_t max_message_bytes = size_t{64} << 20;
};

class Coordinator {
 public:
  // Binds both ports and starts serving. InvalidArgument for a non-loopback
  // host without a token; Unavailable when a port cannot be bound.
  static StatusOr<std::unique_ptr<Coordinator>> Start(CoordinatorOptions options);
  ~Coordinator();  // Stop()

  int port() const;
  int http_port() const;
  bool aborted() const;
  std::string abort_reason() const;
  // True once every rank has registered and said Done.
  bool all_done() const;
  // The /status document.
  std::string StatusJson() const;
  void Stop();

  struct Impl;

 private:
  explicit Coordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace shardtrain::coordinator
