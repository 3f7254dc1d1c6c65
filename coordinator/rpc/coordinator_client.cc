#include "coordinator/rpc/coordinator_client.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "coordinator/rpc/frame.h"
#include "coordinator/rpc/socket_io.h"

namespace shardtrain::coordinator {
namespace {

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// A refusal from the coordinator as a Status with its code.
Status FromErrorReply(const ErrorReply& error, const std::string& context) {
  int code = error.code();
  if (code <= 0 || code > static_cast<int>(StatusCode::kDataLoss)) {
    code = static_cast<int>(StatusCode::kUnknown);
  }
  return Status(static_cast<StatusCode>(code), context + ": " + error.message());
}

}  // namespace

CoordinatorClient::CoordinatorClient(int fd, std::string peer, int rank)
    : fd_(fd), peer_(std::move(peer)), rank_(rank), max_message_bytes_(kMaxMessageBytes) {}

CoordinatorClient::~CoordinatorClient() { CloseSocket(fd_); }

void CoordinatorClient::set_io_timeout_seconds(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  io_timeout_seconds_ = seconds;
}

void CoordinatorClient::set_max_message_bytes(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_message_bytes_ = bytes;
}

StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    const std::string& host, int port, const std::string& job_token, int rank, int world_size,
    double timeout_seconds) {
  const std::string peer = host + ":" + std::to_string(port);
  const Deadline deadline = DeadlineAfter(timeout_seconds);
  int fd = -1;
  while (true) {
    // Each attempt may use at most the time that is left.
    StatusOr<int> connected = ConnectTcp(host, port, deadline);
    if (connected.ok()) {
      fd = *connected;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      char tried[32];
      std::snprintf(tried, sizeof(tried), "%.3g", timeout_seconds);
      return UnavailableError(connected.status().message() + " (tried for " + tried +
                              " s); is the coordinator running? (rank 0 hosts it, or start "
                              "`shardtrain coordinator --listen " + peer + "`)");
    }
    std::this_thread::sleep_for(kConnectRetryInterval);
  }
  std::unique_ptr<CoordinatorClient> client(new CoordinatorClient(fd, peer, rank));
  Envelope request;
  RegisterRequest* r = request.mutable_register_request();
  r->set_rank(rank);
  r->set_world_size(world_size);
  r->set_job_token(job_token);
  r->set_hostname(Hostname());
  r->set_pid(getpid());
  StatusOr<Envelope> reply = client->Call(request);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kUnavailable ||
        reply.status().code() == StatusCode::kDeadlineExceeded) {
      return reply.status();
    }
    return Status(reply.status().code(), "the coordinator at " + peer + " refused rank " +
                                             std::to_string(rank) + ": " +
                                             reply.status().message());
  }
  if (!reply->has_register_response()) {
    return InternalError("the coordinator at " + peer +
                         " answered a registration with message type " +
                         std::to_string(reply->body_case()));
  }
  client->plan_ = reply->register_response().plan();
  client->world_size_ = reply->register_response().world_size();
  client->heartbeat_timeout_seconds_ = reply->register_response().heartbeat_timeout_seconds();
  return client;
}

StatusOr<Envelope> CoordinatorClient::Call(const Envelope& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!broken_.ok()) return broken_;
  StatusOr<Envelope> reply = CallLocked(request);
  if (!reply.ok()) {
    broken_ = reply.status();
    return reply;
  }
  if (reply->has_error()) {
    if (reply->error().connection_closed()) {
      broken_ = FromErrorReply(reply->error(), "the coordinator at " + peer_ + " closed the connection");
    }
    return FromErrorReply(reply->error(), "the coordinator at " + peer_ + " refused the request");
  }
  return reply;
}

StatusOr<Envelope> CoordinatorClient::CallLocked(const Envelope& request) {
  const Deadline deadline = DeadlineAfter(io_timeout_seconds_);
  const std::string frame = EncodeFrame(request);
  RETURN_IF_ERROR(WriteAll(fd_, frame.data(), frame.size(), deadline, peer_));
  unsigned char header[kFrameHeaderBytes];
  RETURN_IF_ERROR(ReadExactly(fd_, header, sizeof(header), deadline, peer_));
  const uint32_t length = DecodeFrameLength(header);
  RETURN_IF_ERROR(CheckFrameLength(length, max_message_bytes_)
                      .WithContext("reply from the coordinator at " + peer_));
  std::string body(length, '\0');
  RETURN_IF_ERROR(ReadExactly(fd_, body.data(), body.size(), deadline, peer_));
  StatusOr<Envelope> reply = DecodeFrameBody(body);
  if (!reply.ok()) {
    return DataLossError("reply from the coordinator at " + peer_ + ": " +
                         reply.status().message());
  }
  return reply;
}

Status CoordinatorClient::ReportShardWritten(CheckpointShardWritten part) {
  part.set_rank(rank_);
  Envelope request;
  *request.mutable_checkpoint_shard_written() = std::move(part);
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (!reply.has_checkpoint_shard_ack()) {
    return InternalError("the coordinator at " + peer_ +
                         " answered a checkpoint part with message type " +
                         std::to_string(reply.body_case()));
  }
  return OkStatus();
}

StatusOr<CheckpointCommitReply> CoordinatorClient::RequestCommit(
    const coordinator::CheckpointCommitRequest& commit) {
  Envelope request;
  *request.mutable_checkpoint_commit_request() = commit;
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (!reply.has_checkpoint_commit_reply()) {
    return InternalError("the coordinator at " + peer_ +
                         " answered a checkpoint commit with message type " +
                         std::to_string(reply.body_case()));
  }
  return reply.checkpoint_commit_reply();
}

StatusOr<RankAssignment> CoordinatorClient::GetEpochAssignment(int64_t epoch,
                                                               int64_t start_position) {
  Envelope request;
  EpochPlanRequest* r = request.mutable_epoch_plan_request();
  r->set_rank(rank_);
  r->set_epoch(epoch);
  r->set_start_position(start_position);
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (!reply.has_epoch_assignment()) {
    return InternalError("the coordinator at " + peer_ +
                         " answered an epoch plan request with message type " +
                         std::to_string(reply.body_case()));
  }
  const EpochAssignment& a = reply.epoch_assignment();
  RankAssignment assignment;
  assignment.epoch = a.epoch();
  assignment.first_step = a.first_step();
  assignment.example_ids.assign(a.example_ids().begin(), a.example_ids().end());
  assignment.step_counts.assign(a.step_counts().begin(), a.step_counts().end());
  assignment.step_offsets.assign(a.step_offsets().begin(), a.step_offsets().end());
  int64_t rows = 0;
  for (int32_t count : assignment.step_counts) rows += count;
  if (assignment.step_offsets.size() != assignment.step_counts.size() ||
      rows != static_cast<int64_t>(assignment.example_ids.size())) {
    return DataLossError("the coordinator at " + peer_ + " sent an inconsistent plan for epoch " +
                         std::to_string(epoch) + ": " + std::to_string(rows) + " rows in " +
                         std::to_string(assignment.step_counts.size()) + " steps but " +
                         std::to_string(assignment.example_ids.size()) + " example ids");
  }
  return assignment;
}

StatusOr<StreamAssignment> CoordinatorClient::GetStreamAssignment(
    int rank, int64_t epoch, const std::vector<shardtrain::DataStage>& stages) {
  if (rank != rank_) {
    return InvalidArgumentError("stream plan request for rank " + std::to_string(rank) +
                                " on the coordinator connection of rank " + std::to_string(rank_));
  }
  Envelope request;
  StreamPlanRequest* r = request.mutable_stream_plan_request();
  r->set_rank(rank);
  r->set_epoch(epoch);
  for (const shardtrain::DataStage& stage : stages) {
    DataStage* wire = r->add_stages();
    wire->set_world_size(stage.world_size);
    wire->set_steps(stage.steps);
  }
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (!reply.has_stream_assignment()) {
    return InternalError("the coordinator at " + peer_ +
                         " answered a stream plan request with message type " +
                         std::to_string(reply.body_case()));
  }
  const std::string fault = StreamAssignmentFault(reply.stream_assignment(), epoch);
  if (!fault.empty()) {
    return DataLossError("the coordinator at " + peer_ +
                         " sent an inconsistent stream plan for epoch " + std::to_string(epoch) +
                         ": " + fault);
  }
  return std::move(*reply.mutable_stream_assignment());
}

std::string CoordinatorClient::StreamAssignmentFault(const StreamAssignment& a,
                                                     int64_t epoch) const {
  if (a.epoch() != epoch) return "it is for epoch " + std::to_string(a.epoch());
  if (a.rank_examples_size() != world_size_ || a.skip_steps() < 0) {
    return std::to_string(a.rank_examples_size()) + " ranks' example counts for " +
           std::to_string(world_size_) + " ranks, skip_steps " + std::to_string(a.skip_steps());
  }
  int64_t records = 0;
  for (const RecordRange& range : a.ranges()) {
    const bool in_plan =
        range.file() >= 0 && range.file() < plan_.files_size() && range.first_record() >= 0 &&
        range.num_records() >= 0 &&
        range.first_record() + range.num_records() <= plan_.files(range.file()).records();
    if (!in_plan) {
      return "records [" + std::to_string(range.first_record()) + ", " +
             std::to_string(range.first_record() + range.num_records()) + ") of file " +
             std::to_string(range.file()) + " are not in the plan";
    }
    records += range.num_records();
  }
  if (records != a.rank_examples(rank_)) {
    return std::to_string(records) + " records in rank " + std::to_string(rank_) +
           "'s ranges but " + std::to_string(a.rank_examples(rank_)) + " examples";
  }
  return "";
}

StatusOr<HeartbeatReply> CoordinatorClient::SendHeartbeat(const HeartbeatInfo& info) {
  Heartbeat heartbeat;
  heartbeat.set_epoch(info.epoch);
  heartbeat.set_step(info.step);
  heartbeat.set_examples(info.examples);
  heartbeat.set_loss_sum(info.loss_sum);
  heartbeat.set_correct(info.correct);
  heartbeat.set_examples_per_sec(info.examples_per_sec);
  if (info.examples > 0) heartbeat.set_loss(info.loss_sum / static_cast<double>(info.examples));
  return SendHeartbeat(heartbeat);
}

StatusOr<HeartbeatReply> CoordinatorClient::SendHeartbeat(const Heartbeat& heartbeat) {
  Envelope request;
  *request.mutable_heartbeat() = heartbeat;
  request.mutable_heartbeat()->set_rank(rank_);
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (!reply.has_heartbeat_response()) {
    return InternalError("the coordinator at " + peer_ +
                         " answered a heartbeat with message type " +
                         std::to_string(reply.body_case()));
  }
  return HeartbeatReply{reply.heartbeat_response().abort(), reply.heartbeat_response().reason()};
}

Status CoordinatorClient::Done() {
  Envelope request;
  request.mutable_done()->set_rank(rank_);
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (!reply.has_done_response()) {
    return InternalError("the coordinator at " + peer_ + " answered Done with message type " +
                         std::to_string(reply.body_case()));
  }
  return OkStatus();
}

}  // namespace shardtrain::coordinator
