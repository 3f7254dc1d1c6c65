#include "cli/control_plane.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

#include "common/logging.h"
#include "worker/comm/host_collectives.h"

namespace shardtrain::cli {
namespace {

// Where rank 0 hosts the coordinator when every rank runs on its machine.
constexpr char kLoopback[] = "127.0.0.1";
// Names the address rank 0's hosted coordinator listens on and the other ranks
// connect to (e.g. the interface of a cluster's fast network).
constexpr char kCoordinatorHostEnv[] = "SHARDTRAIN_COORDINATOR_HOST";

// The job token from --job-token-file, else $SHARDTRAIN_JOB_TOKEN, else ""
// (the hosted coordinator then generates one).
StatusOr<std::string> ReadJobToken(const ControlPlaneOptions& options) {
  std::string token;
  if (options.token_file) {
    std::ifstream in(*options.token_file);
    if (!(in >> token)) {
      return NotFoundError("cannot read a job token from --job-token-file '" + *options.token_file +
                           "'");
    }
  } else if (const char* env = std::getenv("SHARDTRAIN_JOB_TOKEN")) {
    token = env;
  }
  return token;
}

// Where a coordinator listens.
struct Address {
  std::string host;
  int port = 0;
};

// --coordinator HOST:PORT.
StatusOr<Address> ParseCoordinatorAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  char* end = nullptr;
  const long parsed =
      colon == std::string::npos ? -1 : std::strtol(address.c_str() + colon + 1, &end, 10);
  if (parsed <= 0 || parsed > 65535 || *end != '\0') {
    return InvalidArgumentError("--coordinator expects HOST:PORT, got '" + address + "'");
  }
  return Address{address.substr(0, colon), static_cast<int>(parsed)};
}

// Where the hosted coordinator listens and where the ranks reach it.
struct HostedAddress {
  std::string listen;
  std::string connect;
};

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

// Collective: $SHARDTRAIN_COORDINATOR_HOST on rank 0 if set; else loopback when
// every rank runs on rank 0's host, and otherwise every interface of rank 0,
// reached by its host name (the hosted coordinator always requires a token).
StatusOr<HostedAddress> ChooseHostedAddress(comm::Communicator& comm) {
  ASSIGN_OR_RETURN(std::string root_host, comm::BroadcastHostString(comm, HostName(), 0));
  double elsewhere = HostName() == root_host ? 0 : 1;
  RETURN_IF_ERROR(comm.AllReduceSumHostScalars(&elsewhere, 1)
                      .WithContext("finding the ranks on the coordinator's host"));
  const char* chosen = std::getenv(kCoordinatorHostEnv);
  if (chosen != nullptr && chosen[0] != '\0') return HostedAddress{chosen, chosen};
  if (elsewhere == 0 || root_host.empty()) return HostedAddress{kLoopback, kLoopback};
  return HostedAddress{"0.0.0.0", root_host};
}

// Rank 0: starts the in-process coordinator for this job, requiring `token`.
StatusOr<std::unique_ptr<coordinator::Coordinator>> StartHostedCoordinator(
    const ControlPlaneOptions& options, const config::JobConfig& config,
    const JobTrainingData& train, int world_size, const std::string& token,
    const std::string& host) {
  if (train.in_memory == nullptr && train.index == nullptr) {
    return InternalError("rank 0 hosts the coordinator of a streamed job without its file index");
  }
  coordinator::CoordinatorOptions o;
  o.host = host;
  o.world_size = world_size;
  o.job_token = token;
  o.heartbeat_timeout_seconds = options.heartbeat_timeout_seconds;
  o.http_port = options.http_port;
  SetCoordinatorPlan(config, train, &o);
  ASSIGN_OR_RETURN(auto hosted, coordinator::Coordinator::Start(o));
  LOG(INFO) << "coordinator on " << host << ":" << hosted->port() << ", status at http://" << host
            << ":" << hosted->http_port() << "/status";
  return hosted;
}

// Collective: rank 0 hosts the coordinator and every rank learns its port and
// token (`*token`: rank 0's, or the generated one).
StatusOr<Address> HostCoordinator(const ControlPlaneOptions& options,
                                  const config::JobConfig& config, const JobTrainingData& train,
                                  comm::Communicator& comm, std::string* token,
                                  std::unique_ptr<coordinator::Coordinator>* hosted) {
  const bool is_root = comm.rank() == 0;
  Status started = OkStatus();
  int32_t port = 0;
  ASSIGN_OR_RETURN(HostedAddress address, ChooseHostedAddress(comm));
  if (is_root) {
    if (token->empty()) *token = coordinator::GenerateJobToken();
    auto coordinator =
        StartHostedCoordinator(options, config, train, comm.world_size(), *token, address.listen);
    started = coordinator.status();
    if (coordinator.ok()) {
      *hosted = *std::move(coordinator);
      port = (*hosted)->port();
    }
  }
  RETURN_IF_ERROR(comm::AgreeOnStatus(comm, started, "starting the coordinator"));
  RETURN_IF_ERROR(
      comm.Broadcast(&port, sizeof(port), 0).WithContext("sharing the coordinator's port"));
  ASSIGN_OR_RETURN(*token, comm::BroadcastHostString(comm, *token, 0));
  ASSIGN_OR_RETURN(address.connect, comm::BroadcastHostString(comm, address.connect, 0));
  return Address{address.connect, port};
}

// The plan must describe the data this rank loaded in memory.
Status CheckPlanMatchesData(const coordinator::JobPlan& plan, const data::Dataset& train,
                            int rank) {
  if (plan.streaming()) {
    return FailedPreconditionError("the coordinator streams the training data but rank " +
                                   std::to_string(rank) +
                                   " loaded it in memory (data.in_memory differs); start the "
                                   "coordinator with the same config and data");
  }
  int64_t planned = 0;
  for (int64_t size : plan.shard_sizes()) planned += size;
  if (planned == train.num_examples && plan.global_batch() > 0) return OkStatus();
  return FailedPreconditionError(
      "the coordinator plans " + std::to_string(planned) + " training examples in batches of " +
      std::to_string(plan.global_batch()) + " but rank " + std::to_string(rank) + " loaded " +
      std::to_string(train.num_examples) + "; start the coordinator with the same config and data");
}

}  // namespace

ControlPlane::~ControlPlane() {
  if (hosted != nullptr) hosted->Stop();
}

Status CheckStreamingWorldSize(const config::JobConfig& config, int world_size) {
  const int64_t batch = config.training().batch_size();
  if (config.data().in_memory() || batch >= world_size) return OkStatus();
  const std::string ranks = std::to_string(world_size);
  return InvalidArgumentError("training.batch_size " + std::to_string(batch) +
                              " is smaller than the world size " + ranks +
                              ": streamed training data needs at least one example per rank in "
                              "each global batch; use --batch-size " +
                              ranks + " or more, fewer ranks, or data.in_memory: true");
}

void SetCoordinatorPlan(const config::JobConfig& config, const JobTrainingData& train,
                        coordinator::CoordinatorOptions* options) {
  options->seed = config.training().seed();
  options->shuffle = config.training().shuffle();
  options->global_batch = config.training().batch_size();
  options->epochs = config.training().epochs();
  if (train.in_memory != nullptr) {
    options->shard_sizes = train.in_memory->shard_sizes;
    return;
  }
  if (train.index == nullptr) return;
  const coordinator::JobPlan& plan = train.index->plan;
  options->shard_sizes.assign(plan.shard_sizes().begin(), plan.shard_sizes().end());
  options->streaming = true;
  options->files.assign(plan.files().begin(), plan.files().end());
  options->shard_records = plan.shard_records();
  options->shuffle_buffer = plan.shuffle_buffer();
  options->train_examples = plan.train_examples();
  options->validation_split = plan.validation_split();
}

double HeartbeatIntervalSeconds(double heartbeat_timeout_seconds) {
  return std::clamp(heartbeat_timeout_seconds / kHeartbeatsPerTimeout, kMinHeartbeatIntervalSeconds,
                    kMaxHeartbeatIntervalSeconds);
}

StatusOr<ControlPlane> JoinControlPlane(const ControlPlaneOptions& options,
                                        const config::JobConfig& config,
                                        const JobTrainingData& train, comm::Communicator& comm) {
  ASSIGN_OR_RETURN(std::string token, ReadJobToken(options));
  ControlPlane plane;
  Address address;
  if (options.coordinator) {
    ASSIGN_OR_RETURN(address, ParseCoordinatorAddress(*options.coordinator));
  } else {
    ASSIGN_OR_RETURN(address, HostCoordinator(options, config, train, comm, &token, &plane.hosted));
  }
  plane.host = address.host;
  ASSIGN_OR_RETURN(plane.client, coordinator::CoordinatorClient::Connect(
                                     address.host, address.port, token, comm.rank(),
                                     comm.world_size(), kConnectTimeoutSeconds));
  // A coordinator that stops answering ends the rank within the heartbeat timeout.
  plane.client->set_io_timeout_seconds(std::min(
      coordinator::CoordinatorClient::kDefaultIoTimeoutSeconds, options.heartbeat_timeout_seconds));
  if (train.in_memory != nullptr) {
    RETURN_IF_ERROR(CheckPlanMatchesData(plane.client->plan(), *train.in_memory, comm.rank()));
  } else {
    ASSIGN_OR_RETURN(plane.stream_files,
                     data::StreamFilesForPlan(config, plane.client->plan(), comm.rank()));
  }
  return plane;
}

std::unique_ptr<StreamPlanner> MakeStreamPlanner(const config::JobConfig& config,
                                                 const ControlPlane& plane,
                                                 const data::ExampleDecoder* decoder, int rank) {
  const coordinator::JobPlan& plan = plane.client->plan();
  StreamSource source;
  source.files = &plane.stream_files;
  source.decoder = decoder;
  source.seed = config.training().seed();
  source.shuffle_buffer = plan.shuffle_buffer();
  source.reader_threads = data::StreamReaderThreads(config.data());
  source.rank = rank;
  source.global_batch = config.training().batch_size();
  for (const coordinator::DataFile& file : plan.files()) source.epoch_examples += file.records();
  coordinator::CoordinatorClient* client = plane.client.get();
  return std::make_unique<StreamPlanner>(
      source, [client, rank](int64_t epoch, const std::vector<DataStage>& stages) {
        return client->GetStreamAssignment(rank, epoch, stages);
      });
}

StatusOr<EpochPlan> CoordinatorPlanner::PlanExamples(int64_t epoch, int64_t start_position) {
  ASSIGN_OR_RETURN(coordinator::RankAssignment a,
                   client_->GetEpochAssignment(epoch, start_position));
  return EpochPlan{a.epoch, a.first_step, std::move(a.example_ids), std::move(a.step_counts),
                   std::move(a.step_offsets)};
}

}  // namespace shardtrain::cli
