// How the ranks of a `shardtrain train` job join its control plane
// (coordinator/coordinator.h): the job token is read (--job-token-file, else
// $SHARDTRAIN_JOB_TOKEN, else rank 0 generates one); unless --coordinator
// names a standalone coordinator, rank 0 starts one in-process and sends its
// address, port and token to the other ranks over the communicator (a token of
// any length); then every rank registers and checks that the coordinator's
// plan describes its training data: the Dataset it loaded (data.in_memory), or
// for a streamed job the files it lists (the plan's files, which rank 0 or the
// standalone coordinator indexed; the other ranks never read the training set
// to join). A coordinator that stops answering then
// fails the rank's next call within the heartbeat timeout. The hosted
// coordinator listens on $SHARDTRAIN_COORDINATOR_HOST (rank 0's) if set; else
// on 127.0.0.1 when every rank runs on rank 0's host, and otherwise on every
// interface of rank 0, which the other ranks reach by its host name.
// CoordinatorPlanner then gets each epoch's assignment of this rank from the
// coordinator; a streamed job's planner (MakeStreamPlanner) its streams.
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
#include "worker/data/example_decoder.h"
#include "worker/data/job_data.h"
#include "worker/epoch_plan.h"
#include "worker/in_memory_batches.h"
#include "worker/stream_batches.h"

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
  // A streamed job's training files as this rank names them, with the plan's
  // records and offsets (data::StreamFilesForPlan); empty for in-memory data.
  data::StreamFiles stream_files;
};

// The training data a rank joins the control plane with: the in-memory
// training split (data.in_memory), or for a streamed job the index of its
// files (rank 0 with a hosted coordinator; null on the other ranks).
struct JobTrainingData {
  const data::Dataset* in_memory = nullptr;
  const data::TrainingIndex* index = nullptr;
};

// A streamed job needs a local batch of at least one example on every rank:
// InvalidArgument naming training.batch_size and the world size otherwise.
// OK for an in-memory job.
Status CheckStreamingWorldSize(const config::JobConfig& config, int world_size);

// The plan fields of a coordinator for the job: seed, shuffle, global batch,
// epochs (`config`'s effective training.epochs, flags applied: rank 0's for
// the hosted coordinator), and the in-memory split's shard sizes or the
// streamed files' index (`train`: the one the job has).
void SetCoordinatorPlan(const config::JobConfig& config, const JobTrainingData& train,
                        coordinator::CoordinatorOptions* options);

// Collective: joins the control plane of a job that trains on `train` with
// `config` (the hosted coordinator's plan comes from them; a streamed job's
// rank 0 must bring the index unless options.coordinator is set). NotFound for an
// unreadable --job-token-file, InvalidArgument for a malformed --coordinator,
// the coordinator's start error on every rank, the client's Connect errors
// (PermissionDenied for a wrong token), and FailedPrecondition when the
// coordinator plans other data than this rank loaded or lists (or data.in_memory differs).
StatusOr<ControlPlane> JoinControlPlane(const ControlPlaneOptions& options,
                                        const config::JobConfig& config,
                                        const JobTrainingData& train, comm::Communicator& comm);

// The planner of a streamed job: each epoch's streams of this rank from the
// coordinator (CoordinatorClient::GetStreamAssignment), read from
// plane.stream_files with `decoder` (the job's feature spec). `plane` and
// `decoder` outlive the planner.
std::unique_ptr<StreamPlanner> MakeStreamPlanner(const config::JobConfig& config,
                                                 const ControlPlane& plane,
                                                 const data::ExampleDecoder* decoder, int rank);

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
