#include "coordinator/coordinator.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "common/logging.h"
#include "coordinator/checkpoint_committer.h"
#include "coordinator/rpc/frame.h"
#include "coordinator/shard_planner.h"
#include "coordinator/status_page.h"
#include "coordinator/worker_registry.h"

namespace shardtrain::coordinator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A connection must register within this long, or it is closed.
constexpr std::chrono::seconds kRegistrationTimeout{30};
// An HTTP client must send its request (and take the answer) within this long.
constexpr std::chrono::seconds kHttpTimeout{10};
// The liveness watchdog runs every tenth of the heartbeat timeout, within
// these bounds, so a silent rank is noticed within ~10% of the timeout.
constexpr double kMinWatchdogPeriodSeconds = 0.01;
constexpr double kMaxWatchdogPeriodSeconds = 0.25;
// The smallest CoordinatorOptions::max_message_bytes accepted.
constexpr size_t kMinMaxMessageBytes = 64;
// Stream plans kept for the ranks that ask after the first (a fresh epoch and
// a resumed one, with room to spare).
constexpr size_t kStreamCacheEntries = 4;

// Token comparison whose time does not depend on where the strings differ.
bool TokensEqual(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

std::string PeerOf(const tcp::socket& socket) {
  boost::system::error_code error;
  const tcp::endpoint endpoint = socket.remote_endpoint(error);
  if (error) return "an unknown peer";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// What every rank learns at registration.
JobPlan PlanOf(const CoordinatorOptions& o) {
  JobPlan plan;
  plan.set_seed(o.seed);
  plan.set_shuffle(o.shuffle);
  plan.set_global_batch(o.global_batch);
  for (int64_t size : o.shard_sizes) plan.add_shard_sizes(size);
  if (o.streaming) {
    plan.set_streaming(true);
    plan.mutable_files()->Add(o.files.begin(), o.files.end());
    plan.set_shard_records(o.shard_records);
    plan.set_shuffle_buffer(o.shuffle ? o.shuffle_buffer : 1);
    plan.set_train_examples(o.train_examples);
    plan.set_validation_split(o.validation_split);
  }
  return plan;
}

// The streaming options Start() refuses (see coordinator.h).
Status CheckStreamingOptions(const CoordinatorOptions& o) {
  if (o.global_batch < 1 || o.shard_records < 1 || o.shuffle_buffer < 1) {
    return InvalidArgumentError(
        "coordinator: a streaming job needs a global batch, shard_records and shuffle_buffer "
        ">= 1, got " +
        std::to_string(o.global_batch) + ", " + std::to_string(o.shard_records) + " and " +
        std::to_string(o.shuffle_buffer));
  }
  if (o.world_size > o.global_batch) {
    return InvalidArgumentError(
        "coordinator: a streaming job needs a global batch of at least "
        "the world size, got " +
        std::to_string(o.global_batch) + " for " + std::to_string(o.world_size) + " ranks");
  }
  for (const DataFile& file : o.files) {
    const int64_t every = file.index_every();
    const bool indexed = file.offsets_size() > 0;
    if (file.records() < 0 || (indexed && every < 1) ||
        (indexed && file.offsets_size() < (file.records() + every - 1) / every)) {
      return InvalidArgumentError("coordinator: training file " + file.path() + " has " +
                                  std::to_string(file.records()) + " records but " +
                                  std::to_string(file.offsets_size()) + " offsets, one every " +
                                  std::to_string(every) + " records");
    }
  }
  return OkStatus();
}

// The RegisterResponse carrying `plan` must fit a client's frame limit.
Status CheckPlanFitsAFrame(const JobPlan& plan) {
  Envelope reply;
  *reply.mutable_register_response()->mutable_plan() = plan;
  const size_t bytes = reply.ByteSizeLong() + 64;  // + the other response fields
  if (bytes <= kMaxMessageBytes) return OkStatus();
  return InvalidArgumentError("coordinator: the job plan takes " + std::to_string(bytes) +
                              " bytes, over the " + std::to_string(kMaxMessageBytes) +
                              "-byte frame limit; index the files more sparsely (fewer offsets)");
}

// The streams of recent plan requests, so that the ranks asking for the same
// (epoch, stages, world size) share one PlanStreams. Thread-safe.
class StreamCache {
 public:
  using Streams = std::shared_ptr<const StatusOr<StageStreams>>;

  Streams Get(const StreamJob& job, int64_t epoch, const std::vector<shardtrain::DataStage>& stages,
              int world_size) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_) {
      if (e.epoch == epoch && e.world_size == world_size && e.stages == stages) return e.streams;
    }
    // Planned under the lock: a rank asking meanwhile waits for this answer.
    Streams streams =
        std::make_shared<const StatusOr<StageStreams>>(PlanStreams(job, epoch, stages, world_size));
    if (entries_.size() == kStreamCacheEntries) entries_.pop_front();
    entries_.push_back(Entry{epoch, stages, world_size, streams});
    return streams;
  }

 private:
  struct Entry {
    int64_t epoch;
    std::vector<shardtrain::DataStage> stages;
    int world_size;
    Streams streams;
  };
  std::mutex mutex_;
  std::deque<Entry> entries_;
};

// Rank `rank`'s part of `streams` on the wire.
void FillStreamAssignment(const StageStreams& streams, int64_t epoch, int rank,
                          StreamAssignment* out) {
  out->set_epoch(epoch);
  out->set_stage(streams.stage);
  out->set_skip_steps(streams.skip_steps);
  for (const shardtrain::RecordRange& range : streams.ranks[static_cast<size_t>(rank)].ranges) {
    RecordRange* wire = out->add_ranges();
    wire->set_file(range.file);
    wire->set_first_record(range.first_record);
    wire->set_num_records(range.num_records);
  }
  for (int64_t examples : streams.RankExamples()) out->add_rank_examples(examples);
}

}  // namespace

StreamJob StreamJobOf(const JobPlan& plan) {
  StreamJob job;
  job.seed = plan.seed();
  job.shuffle = plan.shuffle();
  job.global_batch = plan.global_batch();
  job.shuffle_buffer = plan.shuffle_buffer();
  job.shard_records = plan.shard_records();
  for (const DataFile& file : plan.files()) {
    job.file_records.push_back(file.records());
    job.splittable.push_back(file.offsets_size() > 0);
  }
  return job;
}

std::string GenerateJobToken() {
  std::random_device random;
  char token[33];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(token + 8 * i, 9, "%08x", static_cast<unsigned>(random()));
  }
  return std::string(token, 32);
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code error;
  const asio::ip::address address = asio::ip::make_address(host, error);
  return !error && address.is_loopback();
}

struct Coordinator::Impl {
  explicit Impl(CoordinatorOptions o)
      : options(std::move(o)),
        plan(PlanOf(options)),
        stream_job(StreamJobOf(plan)),
        registry(options.world_size, options.heartbeat_timeout_seconds),
        history(options.heartbeat_timeout_seconds) {
    for (int64_t size : options.shard_sizes) total_examples += size;
  }

  // What the session does after a reply.
  struct Reply {
    Envelope envelope;
    bool close = false;
  };
  // Handles one request of the connection from `peer`; `*session_rank` is the
  // rank registered on it (-1 before registration).
  Reply Handle(const Envelope& request, const std::string& peer, int* session_rank);

  // One handler per request type, called by Handle with the request's arrival
  // time. HandleRegister sets `*session_rank`; the others check the rank they
  // name against it.
  Reply HandleRegister(const RegisterRequest& r, const std::string& peer, int* session_rank,
                       Clock::time_point now);
  Reply HandleEpochPlanRequest(const EpochPlanRequest& r, const std::string& peer, int session_rank,
                               Clock::time_point now);
  Reply HandleStreamPlanRequest(const StreamPlanRequest& r, const std::string& peer,
                                int session_rank, Clock::time_point now);
  Reply HandleHeartbeat(const Heartbeat& h, const std::string& peer, int session_rank,
                        Clock::time_point now);
  Reply HandleDone(const std::string& peer, int session_rank);
  Reply HandleShardWritten(const CheckpointShardWritten& part, const std::string& peer,
                           int session_rank, Clock::time_point now);
  Reply HandleCommitRequest(const CheckpointCommitRequest& commit, int session_rank,
                            Clock::time_point now);
  // HandleRegister without the logging: the checks, the registry and the plan.
  Reply RegisterOrRefuse(const RegisterRequest& r, int* session_rank, Clock::time_point now);
  // Marks `rank` alive; a refusal (connection kept) when the job was aborted.
  std::optional<Reply> RefuseIfAborted(int rank, Clock::time_point now);

  void AcceptRpc();
  void AcceptHttp();
  void ArmWatchdog();
  void Run();

  const CoordinatorOptions options;
  const JobPlan plan;  // sent at registration
  const StreamJob stream_job;
  StreamCache stream_cache;
  int64_t total_examples = 0;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::acceptor http_acceptor{io};
  asio::steady_timer watchdog{io};
  std::thread thread;
  int port = 0;
  int http_port = -1;
  mutable std::mutex mutex;  // guards registry and history
  WorkerRegistry registry;
  StatusHistory history;  // rank 0's reports, for GET / and /status
  const Clock::time_point started = Clock::now();

  // The GET /status document; call with `mutex` held.
  std::string StatusJson(Clock::time_point now) const {
    return history.AddTo(registry.StatusJson(now));
  }
  CheckpointCommitter committer{storage::PosixFileSystem(), options.world_size};
};

namespace {

Coordinator::Impl::Reply Refuse(StatusCode code, const std::string& message, bool close) {
  Coordinator::Impl::Reply reply;
  ErrorReply* error = reply.envelope.mutable_error();
  error->set_code(static_cast<int32_t>(code));
  error->set_message(message);
  error->set_connection_closed(close);
  reply.close = close;
  return reply;
}

// A refusal that closes the connection, logged with the peer's address.
Coordinator::Impl::Reply RefuseAndClose(StatusCode code, const std::string& message,
                                        const std::string& peer) {
  LOG(WARNING) << "coordinator: closing connection from " << peer << ": " << message;
  return Refuse(code, message, true);
}

// A request naming a rank this connection did not register: refused, logged, closed.
Coordinator::Impl::Reply RefuseUnregistered(const char* what, int rank, const std::string& peer) {
  return RefuseAndClose(StatusCode::kFailedPrecondition,
                        std::string(what) + " for rank " + std::to_string(rank) +
                            " on a connection that did not register it",
                        peer);
}

// One worker connection: read a frame, handle it, write the reply, repeat.
class RpcSession : public std::enable_shared_from_this<RpcSession> {
 public:
  RpcSession(tcp::socket socket, Coordinator::Impl* impl)
      : socket_(std::move(socket)),
        impl_(impl),
        peer_(PeerOf(socket_)),
        registration_timer_(socket_.get_executor()) {}

  void Start() {
    auto self = shared_from_this();
    registration_timer_.expires_after(kRegistrationTimeout);
    registration_timer_.async_wait([self](boost::system::error_code error) {
      if (error || self->rank_ >= 0 || self->closed_) return;
      LOG(WARNING) << "coordinator: closing connection from " << self->peer_
                   << ": no registration within " << kRegistrationTimeout.count() << " s";
      self->Close();
    });
    ReadHeader();
  }

 private:
  void ReadHeader() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(header_),
                     [self](boost::system::error_code error, size_t) {
                       if (error) return self->Closed(error);
                       const uint32_t length = DecodeFrameLength(self->header_);
                       // Checked before reading (or allocating) the body.
                       Status ok = CheckFrameLength(length, self->impl_->options.max_message_bytes);
                       if (!ok.ok()) return self->Reject(ok.message());
                       self->body_.assign(length, '\0');
                       self->ReadBody();
                     });
  }

  void ReadBody() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_), [self](boost::system::error_code error, size_t) {
      if (error) return self->Closed(error);
      StatusOr<Envelope> request = DecodeFrameBody(self->body_);
      std::string().swap(self->body_);
      if (!request.ok()) return self->Reject(request.status().message());
      Coordinator::Impl::Reply reply = self->impl_->Handle(*request, self->peer_, &self->rank_);
      if (self->rank_ >= 0) self->registration_timer_.cancel();
      self->Write(EncodeFrame(reply.envelope), reply.close);
    });
  }

  void Write(std::string frame, bool close_after) {
    auto self = shared_from_this();
    out_ = std::move(frame);
    asio::async_write(socket_, asio::buffer(out_),
                      [self, close_after](boost::system::error_code error, size_t) {
                        if (error) return self->Closed(error);
                        if (close_after) {
                          self->Close();
                          self->Lost("was disconnected after a refused request");
                          return;
                        }
                        self->ReadHeader();
                      });
  }

  // A protocol violation: log, close, and tell the registry if a rank spoke here.
  void Reject(const std::string& reason) {
    LOG(WARNING) << "coordinator: closing connection from " << peer_ << ": " << reason;
    Close();
    Lost("sent a bad message (" + reason + ")");
  }

  void Closed(const boost::system::error_code& error) {
    const bool by_us = closed_;
    Close();
    if (by_us) return;  // already reported
    if (error == asio::error::eof || error == asio::error::connection_reset) {
      Lost("disconnected (process died?)");
    } else {
      Lost("lost its connection (" + error.message() + ")");
    }
  }

  void Lost(const std::string& what) {
    if (rank_ < 0) return;
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->registry.ConnectionClosed(rank_, what);
    rank_ = -1;
  }

  void Close() {
    closed_ = true;
    registration_timer_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  Coordinator::Impl* impl_;
  std::string peer_;
  asio::steady_timer registration_timer_;
  unsigned char header_[kFrameHeaderBytes] = {};
  std::string body_;
  std::string out_;
  int rank_ = -1;  // the rank registered on this connection
  bool closed_ = false;
};

// GET /status -> JSON; GET / -> the status page; anything else -> 404 JSON.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, Coordinator::Impl* impl)
      : stream_(std::move(socket)), impl_(impl) {}

  void Start() {
    auto self = shared_from_this();
    stream_.expires_after(kHttpTimeout);
    http::async_read(stream_, buffer_, request_, [self](boost::system::error_code error, size_t) {
      if (error) return self->Close();
      self->Respond();
    });
  }

 private:
  void Respond() {
    response_.version(request_.version());
    response_.keep_alive(false);
    response_.set(http::field::content_type, "application/json");
    response_.set(http::field::cache_control, "no-store");
    const bool get = request_.method() == http::verb::get;
    if (get && request_.target() == "/status") {
      response_.result(http::status::ok);
      std::lock_guard<std::mutex> lock(impl_->mutex);
      response_.body() = impl_->StatusJson(Clock::now()) + "\n";
    } else if (get && (request_.target() == "/" || request_.target() == "/index.html")) {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/html; charset=utf-8");
      response_.body() = std::string(kStatusPageHtml);
    } else {
      response_.result(http::status::not_found);
      // coordinator_test matches this text.
      response_.body() =
          "{\"error\": \"not found; the endpoints are GET / (status page) and GET /status "
          "(JSON)\"}\n";
    }
    response_.prepare_payload();
    auto self = shared_from_this();
    http::async_write(stream_, response_,
                      [self](boost::system::error_code, size_t) { self->Close(); });
  }

  void Close() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Coordinator::Impl* impl_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

Coordinator::Impl::Reply Coordinator::Impl::Handle(const Envelope& request, const std::string& peer,
                                                   int* session_rank) {
  const Clock::time_point now = Clock::now();
  switch (request.body_case()) {
    case Envelope::kRegisterRequest:
      return HandleRegister(request.register_request(), peer, session_rank, now);
    case Envelope::kEpochPlanRequest:
      return HandleEpochPlanRequest(request.epoch_plan_request(), peer, *session_rank, now);
    case Envelope::kStreamPlanRequest:
      return HandleStreamPlanRequest(request.stream_plan_request(), peer, *session_rank, now);
    case Envelope::kHeartbeat:
      return HandleHeartbeat(request.heartbeat(), peer, *session_rank, now);
    case Envelope::kDone:
      return HandleDone(peer, *session_rank);
    case Envelope::kCheckpointShardWritten:
      return HandleShardWritten(request.checkpoint_shard_written(), peer, *session_rank, now);
    case Envelope::kCheckpointCommitRequest:
      return HandleCommitRequest(request.checkpoint_commit_request(), *session_rank, now);
    default:
      return RefuseAndClose(
          StatusCode::kInvalidArgument,
          "unexpected message type " + std::to_string(request.body_case()) + " (not a request)",
          peer);
  }
}

Coordinator::Impl::Reply Coordinator::Impl::HandleRegister(const RegisterRequest& r,
                                                           const std::string& peer,
                                                           int* session_rank,
                                                           Clock::time_point now) {
  const std::string who = "rank " + std::to_string(r.rank()) + " (host " + r.hostname() + ", pid " +
                          std::to_string(r.pid()) + ") from " + peer;
  Reply reply = RegisterOrRefuse(r, session_rank, now);
  if (reply.close) {
    LOG(WARNING) << "coordinator: refused " << who << ": " << reply.envelope.error().message()
                 << "; closing the connection";
  } else {
    LOG(INFO) << "coordinator: registered " << who;
  }
  return reply;
}

Coordinator::Impl::Reply Coordinator::Impl::RegisterOrRefuse(const RegisterRequest& r,
                                                             int* session_rank,
                                                             Clock::time_point now) {
  if (*session_rank >= 0) {
    return Refuse(StatusCode::kFailedPrecondition,
                  "this connection already registered rank " + std::to_string(*session_rank), true);
  }
  if (!options.job_token.empty() && !TokensEqual(r.job_token(), options.job_token)) {
    return Refuse(StatusCode::kPermissionDenied, "wrong or missing job token", true);
  }
  if (r.world_size() != options.world_size) {
    return Refuse(StatusCode::kFailedPrecondition,
                  "world size " + std::to_string(r.world_size()) + " but the job has " +
                      std::to_string(options.world_size) + " ranks",
                  true);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    Status registered = registry.Register(r.rank(), r.hostname(), r.pid(), now);
    if (!registered.ok()) return Refuse(registered.code(), registered.message(), true);
  }
  *session_rank = r.rank();
  Reply reply;
  RegisterResponse* response = reply.envelope.mutable_register_response();
  *response->mutable_plan() = plan;
  response->set_world_size(options.world_size);
  response->set_heartbeat_timeout_seconds(options.heartbeat_timeout_seconds);
  return reply;
}

Coordinator::Impl::Reply Coordinator::Impl::HandleEpochPlanRequest(const EpochPlanRequest& r,
                                                                   const std::string& peer,
                                                                   int session_rank,
                                                                   Clock::time_point now) {
  if (session_rank < 0 || r.rank() != session_rank) {
    return RefuseUnregistered("epoch plan request", r.rank(), peer);
  }
  if (std::optional<Reply> refused = RefuseIfAborted(session_rank, now)) return *refused;
  if (options.streaming) {
    return Refuse(StatusCode::kFailedPrecondition,
                  "the job streams its training data; ask for stream plans, not epoch plans",
                  false);
  }
  if (options.global_batch <= 0) {
    return Refuse(StatusCode::kFailedPrecondition,
                  "the coordinator was started without a global batch size", false);
  }
  // A position is a step's start, or the epoch's end (a checkpoint taken
  // after its last, partial batch): a plan of no steps.
  if (r.epoch() < 0 || r.start_position() < 0 || r.start_position() > total_examples ||
      (r.start_position() % options.global_batch != 0 && r.start_position() != total_examples)) {
    return Refuse(StatusCode::kInvalidArgument,
                  "epoch " + std::to_string(r.epoch()) + " from position " +
                      std::to_string(r.start_position()) +
                      ": need epoch >= 0 and a position that is a multiple of the global batch " +
                      std::to_string(options.global_batch) + " within [0, " +
                      std::to_string(total_examples) + "], or " + std::to_string(total_examples) +
                      " (the epoch's end)",
                  false);
  }
  // Pure computation: no lock held.
  const RankAssignment a =
      AssignEpoch(options.seed, r.epoch(), options.shard_sizes, options.shuffle,
                  options.global_batch, r.start_position(), session_rank, options.world_size);
  Reply reply;
  EpochAssignment* out = reply.envelope.mutable_epoch_assignment();
  out->set_epoch(a.epoch);
  out->set_first_step(a.first_step);
  out->mutable_example_ids()->Add(a.example_ids.begin(), a.example_ids.end());
  out->mutable_step_counts()->Add(a.step_counts.begin(), a.step_counts.end());
  out->mutable_step_offsets()->Add(a.step_offsets.begin(), a.step_offsets.end());
  return reply;
}

std::optional<Coordinator::Impl::Reply> Coordinator::Impl::RefuseIfAborted(int rank,
                                                                           Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex);
  registry.Touch(rank, now);
  if (!registry.aborted()) return std::nullopt;
  return Refuse(StatusCode::kAborted, "the job was aborted: " + registry.abort_reason(), false);
}

Coordinator::Impl::Reply Coordinator::Impl::HandleStreamPlanRequest(const StreamPlanRequest& r,
                                                                    const std::string& peer,
                                                                    int session_rank,
                                                                    Clock::time_point now) {
  if (session_rank < 0 || r.rank() != session_rank) {
    return RefuseUnregistered("stream plan request", r.rank(), peer);
  }
  if (std::optional<Reply> refused = RefuseIfAborted(session_rank, now)) return *refused;
  if (!options.streaming) {
    return Refuse(StatusCode::kFailedPrecondition,
                  "the job's training data is in memory (data.in_memory); ask for epoch plans, "
                  "not stream plans",
                  false);
  }
  const std::string what = "stream plan of epoch " + std::to_string(r.epoch());
  if (r.epoch() < 0) {
    return Refuse(StatusCode::kInvalidArgument, what + ": the epoch must be >= 0", false);
  }
  if (options.epochs > 0 && r.epoch() >= options.epochs) {
    return Refuse(StatusCode::kOutOfRange,
                  what + ": beyond the job's " + std::to_string(options.epochs) + " epochs", false);
  }
  std::vector<shardtrain::DataStage> stages;  // checked by PlanStreams
  for (const DataStage& stage : r.stages()) stages.push_back({stage.world_size(), stage.steps()});
  const StreamCache::Streams streams =
      stream_cache.Get(stream_job, r.epoch(), stages, options.world_size);
  if (!streams->ok()) {
    return Refuse(streams->status().code(), what + ": " + streams->status().message(), false);
  }
  if (static_cast<size_t>(session_rank) >= (*streams)->ranks.size()) {
    return Refuse(StatusCode::kInternal,
                  what + ": no stream for rank " + std::to_string(session_rank), false);
  }
  Reply reply;
  FillStreamAssignment(**streams, r.epoch(), session_rank,
                       reply.envelope.mutable_stream_assignment());
  return reply;
}

Coordinator::Impl::Reply Coordinator::Impl::HandleHeartbeat(const Heartbeat& h,
                                                            const std::string& peer,
                                                            int session_rank,
                                                            Clock::time_point now) {
  if (session_rank < 0 || h.rank() != session_rank) {
    return RefuseUnregistered("heartbeat", h.rank(), peer);
  }
  Reply reply;
  std::lock_guard<std::mutex> lock(mutex);
  registry.RecordHeartbeat(h, now);
  history.Record(h, std::chrono::duration<double>(now - started).count());
  HeartbeatResponse* response = reply.envelope.mutable_heartbeat_response();
  response->set_abort(registry.aborted());
  response->set_reason(registry.abort_reason());
  return reply;
}

Coordinator::Impl::Reply Coordinator::Impl::HandleDone(const std::string& peer, int session_rank) {
  if (session_rank < 0) {
    return RefuseAndClose(StatusCode::kFailedPrecondition,
                          "Done from a connection that registered no rank", peer);
  }
  std::lock_guard<std::mutex> lock(mutex);
  registry.MarkDone(session_rank);
  LOG(INFO) << "coordinator: " << registry.Describe(session_rank) << " is done";
  Reply reply;
  reply.envelope.mutable_done_response();
  return reply;
}

Coordinator::Impl::Reply Coordinator::Impl::HandleShardWritten(const CheckpointShardWritten& part,
                                                               const std::string& peer,
                                                               int session_rank,
                                                               Clock::time_point now) {
  if (session_rank < 0 || part.rank() != session_rank) {
    return RefuseUnregistered("checkpoint part", part.rank(), peer);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    registry.Touch(session_rank, now);
  }
  Status added = committer.AddPart(session_rank, part);
  if (!added.ok()) return Refuse(added.code(), added.message(), false);
  Reply reply;
  reply.envelope.mutable_checkpoint_shard_ack();
  return reply;
}

Coordinator::Impl::Reply Coordinator::Impl::HandleCommitRequest(
    const CheckpointCommitRequest& commit, int session_rank, Clock::time_point now) {
  if (session_rank != 0) {
    return Refuse(StatusCode::kPermissionDenied,
                  "only rank 0 commits checkpoints (this connection is rank " +
                      std::to_string(session_rank) + ")",
                  false);
  }
  // The state file records wall-clock time; `now` is monotonic.
  const double wall =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  StatusOr<CheckpointCommitReply> committed = committer.Commit(commit, wall);
  if (!committed.ok()) {
    LOG(ERROR) << "coordinator: " << committed.status();
    return Refuse(committed.status().code(), committed.status().message(), false);
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    registry.Touch(session_rank, now);
    registry.RecordCheckpoint(committed->prefix(), commit.step(), now);
  }
  LOG(INFO) << "coordinator: committed checkpoint " << committed->prefix();
  Reply reply;
  *reply.envelope.mutable_checkpoint_commit_reply() = std::move(*committed);
  return reply;
}

void Coordinator::Impl::AcceptRpc() {
  acceptor.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor.is_open()) return;  // stopped
    if (!error) std::make_shared<RpcSession>(std::move(socket), this)->Start();
    AcceptRpc();
  });
}

void Coordinator::Impl::AcceptHttp() {
  http_acceptor.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted || !http_acceptor.is_open()) return;
    if (!error) std::make_shared<HttpSession>(std::move(socket), this)->Start();
    AcceptHttp();
  });
}

void Coordinator::Impl::ArmWatchdog() {
  const double period = std::clamp(options.heartbeat_timeout_seconds / 10,
                                   kMinWatchdogPeriodSeconds, kMaxWatchdogPeriodSeconds);
  watchdog.expires_after(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period)));
  watchdog.async_wait([this](boost::system::error_code error) {
    if (error) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      registry.CheckLiveness(Clock::now());
    }
    ArmWatchdog();
  });
}

void Coordinator::Impl::Run() {
  while (true) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      // A handler threw (e.g. out of memory); keep serving the others.
      LOG(ERROR) << "coordinator: error in the I/O loop: " << e.what();
    }
  }
}

namespace {

Status Listen(tcp::acceptor* acceptor, const std::string& host, int port, const char* what) {
  if (port < 0 || port > 65535) {
    return InvalidArgumentError(std::string(what) + ": port " + std::to_string(port) +
                                " is outside [0, 65535]");
  }
  boost::system::error_code error;
  const asio::ip::address address =
      asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, error);
  if (error) {
    return InvalidArgumentError(std::string(what) + ": '" + host +
                                "' is not an IP address to listen on");
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  acceptor->open(endpoint.protocol(), error);
  if (!error) acceptor->set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor->bind(endpoint, error);
  if (!error) acceptor->listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return UnavailableError(std::string(what) + ": cannot listen on " + host + ":" +
                            std::to_string(port) + ": " + error.message());
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(CoordinatorOptions options) {
  if (options.world_size < 1) {
    return InvalidArgumentError("coordinator: world size must be >= 1, got " +
                                std::to_string(options.world_size));
  }
  if (!(options.heartbeat_timeout_seconds > 0)) {
    return InvalidArgumentError("coordinator: the heartbeat timeout must be > 0 seconds");
  }
  if (options.global_batch < 0) {
    return InvalidArgumentError("coordinator: the global batch must be >= 0");
  }
  for (int64_t size : options.shard_sizes) {
    if (size < 0) return InvalidArgumentError("coordinator: a shard size is negative");
  }
  if (options.max_message_bytes < kMinMaxMessageBytes) {
    return InvalidArgumentError("coordinator: max_message_bytes must be >= " +
                                std::to_string(kMinMaxMessageBytes));
  }
  if (options.streaming) RETURN_IF_ERROR(CheckStreamingOptions(options));
  if (!IsLoopbackHost(options.host) && options.job_token.empty()) {
    return InvalidArgumentError("coordinator: listening on " + options.host +
                                " (not loopback) requires a job token; pass --job-token-file");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(CheckPlanFitsAFrame(impl->plan));
  RETURN_IF_ERROR(Listen(&impl->acceptor, impl->options.host, impl->options.port, "coordinator"));
  impl->port = impl->acceptor.local_endpoint().port();
  if (impl->options.http_port >= 0) {
    RETURN_IF_ERROR(Listen(&impl->http_acceptor, impl->options.host, impl->options.http_port,
                           "coordinator status page"));
    impl->http_port = impl->http_acceptor.local_endpoint().port();
    impl->AcceptHttp();
  }
  impl->AcceptRpc();
  impl->ArmWatchdog();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

Coordinator::Coordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Coordinator::~Coordinator() { Stop(); }

void Coordinator::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->http_acceptor.close(ignored);
}

int Coordinator::port() const { return impl_->port; }
int Coordinator::http_port() const { return impl_->http_port; }
const CoordinatorOptions& Coordinator::options() const { return impl_->options; }

bool Coordinator::aborted() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.aborted();
}
std::string Coordinator::abort_reason() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.abort_reason();
}
void Coordinator::Abort(const std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->registry.Abort(reason);
}
bool Coordinator::all_done() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.all_done();
}
bool Coordinator::all_disconnected() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.all_disconnected();
}
std::string Coordinator::StatusJson() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->StatusJson(Clock::now());
}

}  // namespace shardtrain::coordinator
