// WorkerRegistry: who is in the job, when each rank was last heard from, its
// latest progress, and whether the job has been aborted (and why). Pure state,
// no I/O: the coordinator calls it with the current time under its own mutex.
// Not thread-safe on its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

class WorkerRegistry {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  WorkerRegistry(int world_size, double heartbeat_timeout_seconds);

  // InvalidArgument for a rank outside [0, world_size) or registered twice.
  Status Register(int rank, const std::string& hostname, int64_t pid, TimePoint now);
  void Heartbeat(const coordinator::Heartbeat& heartbeat, TimePoint now);
  void MarkDone(int rank);
  // The rank's connection ended before Done: aborts the job naming it.
  void ConnectionLost(int rank, const std::string& what);
  // Aborts the job when a registered, unfinished rank has been silent too long.
  void CheckLiveness(TimePoint now);

  bool aborted() const { return !abort_reason_.empty(); }
  const std::string& abort_reason() const { return abort_reason_; }
  bool all_done() const;
  std::string StatusJson(TimePoint now) const;

 private:
  struct Rank {
    bool registered = false;
    bool done = false;
    std::string hostname;
    int64_t pid = 0;
    TimePoint last_heard{};
    coordinator::Heartbeat progress;
  };
  std::string Describe(int rank) const;
  void Abort(const std::string& reason);

  std::vector<Rank> ranks_;
  double timeout_seconds_;
  std::string abort_reason_;
};

}  // namespace shardtrain::coordinator
