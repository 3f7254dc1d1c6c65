// WorkerRegistry: who is in the job, when each rank was last heard from, its
// latest progress, and whether the job has been aborted (and why). Pure state,
// no I/O and no clock of its own: the coordinator calls it with the current
// time under its own mutex. Not thread-safe on its own.
//
// Abort rules: a registered rank whose connection closes before it said Done,
// or that has been silent for longer than the heartbeat timeout, aborts the
// job; the first reason is kept ("rank 1 (host h, pid 123) disconnected
// (process died?)", "rank 1 (host h, pid 123) stopped sending heartbeats
// 61.2 s ago ...").
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

  int world_size() const { return static_cast<int>(ranks_.size()); }

  // InvalidArgument for a rank outside [0, world_size); AlreadyExists for a
  // rank registered before.
  Status Register(int rank, const std::string& hostname, int64_t pid, TimePoint now);
  bool IsRegistered(int rank) const;
  // Any message from a registered rank proves it alive.
  void Touch(int rank, TimePoint now);
  // Records a registered rank's latest progress (and touches it).
  void RecordHeartbeat(const Heartbeat& heartbeat, TimePoint now);
  void MarkDone(int rank);
  // The connection of a registered rank ended (`what`: "disconnected (process
  // died?)", ...). Aborts the job naming the rank unless it said Done.
  void ConnectionClosed(int rank, const std::string& what);
  // Aborts the job when a registered, unfinished rank has been silent longer
  // than the timeout.
  void CheckLiveness(TimePoint now);
  // Aborts the job with `reason` (the first reason wins).
  void Abort(const std::string& reason);

  bool aborted() const { return !abort_reason_.empty(); }
  const std::string& abort_reason() const { return abort_reason_; }
  // Every rank registered and said Done.
  bool all_done() const;
  // No registered rank still has its connection open.
  bool all_disconnected() const;
  // "rank R (host H, pid P)".
  std::string Describe(int rank) const;

  // The GET /status document: job progress aggregated over the latest
  // heartbeat of each rank, and one entry per rank.
  std::string StatusJson(TimePoint now) const;
  // Records a committed checkpoint, shown as /status's last_checkpoint.
  void RecordCheckpoint(std::string prefix, int64_t step, TimePoint when);

 private:
  struct Rank {
    bool registered = false;
    bool connected = false;
    bool done = false;
    bool heard = false;  // has sent a heartbeat
    std::string hostname;
    int64_t pid = 0;
    TimePoint last_heard{};
    Heartbeat progress;
  };

  std::vector<Rank> ranks_;
  double timeout_seconds_;
  std::string abort_reason_;
  std::string last_checkpoint_;  // "" before the first commit
  int64_t last_checkpoint_step_ = 0;
  TimePoint last_checkpoint_time_{};
};

}  // namespace shardtrain::coordinator
