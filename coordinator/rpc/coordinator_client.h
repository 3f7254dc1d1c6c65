// CoordinatorClient: a worker's connection to the coordinator (protocol in
// proto/coordinator.proto, framing in wire_format.h). Connect() registers the
// rank and learns the job plan; GetEpochAssignment() (in-memory data) or
// GetStreamAssignment() (streamed data) fetches this rank's part of an epoch;
// SendHeartbeat() reports progress and learns whether the job was
// aborted; Done() says goodbye before a clean exit.
//
// Blocking POSIX I/O where every read and write has a deadline
// (kDefaultIoTimeoutSeconds unless set), so a dead or hung coordinator becomes
// an Unavailable / DeadlineExceeded error naming it, never a hang. After an
// I/O error the connection is broken and every later call returns that error.
// Thread-safe: each request and its reply hold a mutex (a heartbeat thread and
// the training loop may share one client).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/stream_order.h"
#include "coordinator/shard_planner.h"
#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

// What a rank reports in a heartbeat (its rank is the client's).
struct HeartbeatInfo {
  int64_t epoch = 0;
  int64_t step = 0;             // global optimizer step
  int64_t examples = 0;         // examples trained on in this epoch so far
  double loss_sum = 0;          // sum of their losses
  int64_t correct = 0;          // how many were classified correctly
  double examples_per_sec = 0;
};

struct HeartbeatReply {
  bool abort = false;  // the job is aborted: exit with `reason`
  std::string reason;
};

class CoordinatorClient {
 public:
  // Deadline of each read or write unless set_io_timeout_seconds() changes it.
  static constexpr double kDefaultIoTimeoutSeconds = 30;
  // Pause between connection attempts in Connect().
  static constexpr std::chrono::milliseconds kConnectRetryInterval{50};

  // Connects to host:port, retrying every kConnectRetryInterval until
  // `timeout_seconds` have passed (rank 0 may start the coordinator a little
  // later), then registers `rank`. Unavailable "cannot connect to H:P: ...
  // (tried for T s); is the coordinator running? ..." after the timeout; a
  // refused registration carries the
  // coordinator's code (PermissionDenied for the token, AlreadyExists for a
  // rank registered twice, InvalidArgument for a rank outside the job,
  // FailedPrecondition for a different world size) and its reason.
  static StatusOr<std::unique_ptr<CoordinatorClient>> Connect(const std::string& host, int port,
                                                              const std::string& job_token,
                                                              int rank, int world_size,
                                                              double timeout_seconds);
  ~CoordinatorClient();
  CoordinatorClient(const CoordinatorClient&) = delete;
  CoordinatorClient& operator=(const CoordinatorClient&) = delete;

  // The job plan from the registration reply.
  const JobPlan& plan() const { return plan_; }
  int rank() const { return rank_; }
  // The coordinator's heartbeat timeout (heartbeat well within it).
  double heartbeat_timeout_seconds() const { return heartbeat_timeout_seconds_; }
  // "host:port".
  const std::string& peer() const { return peer_; }

  // Deadline of each later read or write (default kDefaultIoTimeoutSeconds).
  void set_io_timeout_seconds(double seconds);
  // Largest reply accepted (default kMaxMessageBytes).
  void set_max_message_bytes(size_t bytes);

  // This rank's examples of `epoch` from `start_position` (a multiple of the
  // global batch). Aborted when the job was aborted.
  StatusOr<RankAssignment> GetEpochAssignment(int64_t epoch, int64_t start_position);
  // Rank `rank`'s streams of `epoch` after `stages` (the checkpoint's data
  // cursor; empty for a fresh epoch) in a streaming job. InvalidArgument
  // without asking when `rank` is not this client's; the coordinator's
  // refusals keep their codes (FailedPrecondition for an in-memory job,
  // OutOfRange for an epoch beyond the job, InvalidArgument for stages that do
  // not fit it, Aborted); DataLoss for a reply that does not fit the plan.
  StatusOr<StreamAssignment> GetStreamAssignment(int rank, int64_t epoch,
                                                 const std::vector<shardtrain::DataStage>& stages);
  // Reports progress; the reply says whether the job was aborted.
  StatusOr<HeartbeatReply> SendHeartbeat(const HeartbeatInfo& info);
  // The same with a Heartbeat message (its rank is replaced by this client's).
  StatusOr<HeartbeatReply> SendHeartbeat(const Heartbeat& heartbeat);
  // Checkpoint commit phase 1: this rank's data file is durable; `part.rank`
  // is set to this client's rank.
  Status ReportShardWritten(CheckpointShardWritten part);
  // Phase 2 (rank 0 only, after every rank reported): the coordinator writes
  // the index and the state file. Its error (e.g. a rank that did not report)
  // comes back as a Status.
  StatusOr<CheckpointCommitReply> RequestCommit(
      const coordinator::CheckpointCommitRequest& request);
  // Tells the coordinator this rank finished; its disconnect is then expected.
  Status Done();

 private:
  CoordinatorClient(int fd, std::string peer, int rank);
  // A StreamAssignment that does not fit the plan and world size: a message.
  std::string StreamAssignmentFault(const StreamAssignment& a, int64_t epoch) const;
  // One request and its reply; an ErrorReply becomes a Status.
  StatusOr<Envelope> Call(const Envelope& request);
  StatusOr<Envelope> CallLocked(const Envelope& request);

  std::mutex mutex_;
  int fd_;
  std::string peer_;  // "host:port", for messages
  int rank_;
  double io_timeout_seconds_ = kDefaultIoTimeoutSeconds;
  size_t max_message_bytes_;
  Status broken_;  // the first I/O error; every later call returns it
  JobPlan plan_;
  int world_size_ = 0;  // from the registration reply
  double heartbeat_timeout_seconds_ = 0;
};

}  // namespace shardtrain::coordinator
