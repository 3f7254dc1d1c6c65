// How the ranks of a `shardtrain train` job join its control plane
// (coordinator/coordinator.h): the job token is read (--job-token-file, else
// $SHARDTRAIN_JOB_TOKEN, else rank 0 generates one); unless --coordinator
// names a standalone coordinator, rank 0 starts one in-process and sends its
// address, port and token to the other ranks over the communicator (a token of
// any length); then every rank registers and checks that the coordinator's
// plan describes the data it loaded. A coordinator that stops answering then
// fails the rank's next call within the heartbeat timeout. The hosted
// coordinator listens on $SHARDTRAIN_COORDINATOR_HOST (rank 0's) if set; else
// on 127.0.0.1 when every rank runs on rank 0's host, and otherwise on every
// interface of rank 0, which the other ranks reach by its host name.
// CoordinatorPlanner then gets each epoch's assignment of this rank from the
// coordinator.
//
// JoinControlPlane is collective (every rank calls it); a failure to start
// the coordinator is the same error on every rank. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "proto/config.pb.h"
#include "worker/comm/communicator.h"
#include "worker/data/dataset.h"
#include "worker/epoch_plan.h"
#include "worker/in_memory_batches.h"

namespace shardtrain::cli {

// How long a rank keeps trying to reach and register with the coordinator
// (rank 0 may start it a little after the others try).
inline constexpr double kConnectTimeoutSeconds = 30;
// The default of --heartbeat-timeout: a rank silent this long aborts the job.
inline constexpr double kDefaultHeartbeatTimeoutSeconds = 60;
// Heartbeats per heartbeat timeout, and the bounds of the interval between
// them: often enough that a short timeout is not missed, at most once a
// second so a long one costs nothing.
inline constexpr double kHeartbeatsPerTimeout = 4;
inline constexpr double kMinHeartbeatIntervalSeconds = 0.05;
inline constexpr double kMaxHeartbeatIntervalSeconds = 1.0;

// How ranks find the coordinator, from the flags.
struct ControlPlaneOptions {
  std::optional<std::string> coordinator;  // --coordinator HOST:PORT of a standalone one
  std::optional<std::string> token_file;   // --job-token-file
  double heartbeat_timeout_seconds = kDefaultHeartbeatTimeoutSeconds;  // --heartbeat-timeout
  int http_port = 0;  // --http-port of the hosted coordinator
};

// Seconds between a rank's heartbeats for a coordinator that aborts the job
// after `heartbeat_timeout_seconds` of silence.
double HeartbeatIntervalSeconds(double heartbeat_timeout_seconds);

// This rank's connection to the control plane.
struct ControlPlane {
  ControlPlane() = default;
  ControlPlane(ControlPlane&&) = default;
  ControlPlane& operator=(ControlPlane&&) = default;
  // Stops the hosted coordinator before the client disconnects: rank 0
  // leaving with an error it reports itself is not a lost rank to report.
  ~ControlPlane();

  // Rank 0's in-process coordinator (null with --coordinator); declared first
  // so that it outlives the client.
  std::unique_ptr<coordinator::Coordinator> hosted;
  std::unique_ptr<coordinator::CoordinatorClient> client;
  std::string host;  // the coordinator's address as the ranks connect to it
};

// Collective: joins the control plane of a job that trains on `train` with
// `config` (the hosted coordinator's plan comes from them). NotFound for an
// unreadable --job-token-file, InvalidArgument for a malformed --coordinator,
// the coordinator's start error on every rank, the client's Connect errors
// (PermissionDenied for a wrong token), and FailedPrecondition when the
// coordinator plans other data than this rank loaded.
StatusOr<ControlPlane> JoinControlPlane(const ControlPlaneOptions& options,
                                        const config::JobConfig& config, const data::Dataset& train,
                                        comm::Communicator& comm);

// Each epoch's plan of this rank over the in-memory training split `train`,
// from the coordinator (CoordinatorClient::GetEpochAssignment), in global
// batches of `global_batch`. `client` and `train` outlive the planner; the
// client may be shared with other threads (it is thread-safe).
class CoordinatorPlanner : public InMemoryPlanner {
 public:
  CoordinatorPlanner(coordinator::CoordinatorClient* client, const data::Dataset* train,
                     int64_t global_batch)
      : InMemoryPlanner(train, global_batch), client_(client) {}

 protected:
  StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t start_position) override;

 private:
  coordinator::CoordinatorClient* client_;
};

}  // namespace shardtrain::cli
