#include "coordinator/coordinator.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include "common/logging.h"
#include "coordinator/rpc/frame.h"
#include "coordinator/worker_registry.h"

namespace shardtrain::coordinator {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost") return true;
  boost::system::error_code error;
  asio::ip::address address = asio::ip::make_address(host, error);
  return !error && address.is_loopback();
}

struct Coordinator::Impl : std::enable_shared_from_this<Coordinator::Impl> {
  CoordinatorOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::acceptor http_acceptor{io};
  asio::steady_timer watchdog{io};
  std::thread thread;
  mutable std::mutex mutex;  // guards registry (touched by the I/O thread and accessors)
  WorkerRegistry registry;

  explicit Impl(CoordinatorOptions o)
      : options(std::move(o)), registry(options.world_size, options.heartbeat_timeout_seconds) {}

  void AcceptRpc();
  void AcceptHttp();
  void ArmWatchdog();
  Envelope Handle(const Envelope& request, int* session_rank, bool* close_after);
};

namespace {

// One worker connection: read frame, handle, write reply, repeat.
class RpcSession : public std::enable_shared_from_this<RpcSession> {
 public:
  RpcSession(tcp::socket socket, Coordinator::Impl* impl)
      : socket_(std::move(socket)), impl_(impl) {
    boost::system::error_code error;
    auto endpoint = socket_.remote_endpoint(error);
    peer_ = error ? "unknown peer" : endpoint.address().to_string() + ":" +
                                         std::to_string(endpoint.port());
  }
  void Start() { ReadHeader(); }

 private:
  void ReadHeader() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(header_), [self](boost::system::error_code error, size_t) {
      if (error) return self->Closed(error);
      uint32_t length = DecodeFrameLength(self->header_);
      Status ok = CheckFrameLength(length, self->impl_->options.max_message_bytes);
      if (!ok.ok()) return self->Reject(ok.message());
      self->body_.resize(length);
      self->ReadBody();
    });
  }

  void ReadBody() {
    auto self = shared_from_this();
    asio::async_read(socket_, asio::buffer(body_), [self](boost::system::error_code error, size_t) {
      if (error) return self->Closed(error);
      StatusOr<Envelope> request = DecodeFrameBody(self->body_);
      if (!request.ok()) return self->Reject(request.status().message());
      bool close_after = false;
      Envelope reply = self->impl_->Handle(*request, &self->rank_, &close_after);
      if (close_after) LOG(WARNING) << "coordinator: refused " << self->peer_ << ": " << reply.error().message();
      self->Write(EncodeFrame(reply), close_after);
    });
  }

  void Write(std::string frame, bool close_after) {
    auto self = shared_from_this();
    out_ = std::move(frame);
    asio::async_write(socket_, asio::buffer(out_),
                      [self, close_after](boost::system::error_code error, size_t) {
                        if (error) return self->Closed(error);
                        if (close_after) return self->Close();
                        self->ReadHeader();
                      });
  }

  // A protocol violation: log, tell the registry if a rank spoke here, close.
  void Reject(const std::string& reason) {
    LOG(WARNING) << "coordinator: closing connection from " << peer_ << ": " << reason;
    Close();
    Lost("sent a bad message (" + reason + ")");
  }

  void Closed(const boost::system::error_code& error) {
    Close();
    Lost(error == asio::error::eof ? "disconnected (process died?)"
                                   : "lost its connection (" + error.message() + ")");
  }

  void Lost(const std::string& what) {
    if (rank_ < 0) return;
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->registry.ConnectionLost(rank_, what);
    rank_ = -1;
  }

  void Close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  Coordinator::Impl* impl_;
  std::string peer_;
  unsigned char header_[kFrameHeaderBytes] = {};
  std::string body_;
  std::string out_;
  int rank_ = -1;  // the rank registered on this connection
};

// GET /status -> JSON; anything else -> 404.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, Coordinator::Impl* impl)
      : socket_(std::move(socket)), impl_(impl) {}
  void Start() {
    auto self = shared_from_this();
    http::async_read(socket_, buffer_, request_, [self](boost::system::error_code error, size_t) {
      if (error) return;
      self->Respond();
    });
  }

 private:
  void Respond() {
    response_.version(request_.version());
    response_.keep_alive(false);
    response_.set(http::field::content_type, "application/json");
    if (request_.method() == http::verb::get && request_.target() == "/status") {
      response_.result(http::status::ok);
      std::lock_guard<std::mutex> lock(impl_->mutex);
      response_.body() = impl_->registry.StatusJson(Clock::now());
    } else {
      response_.result(http::status::not_found);
      response_.body() = "{\"error\": \"not found; try GET /status\"}";
    }
    response_.prepare_payload();
    auto self = shared_from_this();
    http::async_write(socket_, response_, [self](boost::system::error_code, size_t) {
      boost::system::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  tcp::socket socket_;
  Coordinator::Impl* impl_;
  boost::beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

std::string Hostname(const RegisterRequest& r) {
  return "rank " + std::to_string(r.rank()) + " (host " + r.hostname() + ", pid " +
         std::to_string(r.pid()) + ")";
}

}  // namespace

Envelope Coordinator::Impl::Handle(const Envelope& request, int* session_rank, bool* close_after) {
  Envelope reply;
  auto refuse = [&](const std::string& message) {
    reply.mutable_error()->set_message(message);
    *close_after = true;
    return reply;
  };
  std::lock_guard<std::mutex> lock(mutex);
  switch (request.body_case()) {
    case Envelope::kRegisterRequest: {
      const RegisterRequest& r = request.register_request();
      if (!options.job_token.empty() && r.job_token() != options.job_token) {
        return refuse(Hostname(r) + " presented a wrong or missing job token");
      }
      if (*session_rank >= 0) return refuse("this connection already registered a rank");
      if (r.world_size() != options.world_size) {
        return refuse(Hostname(r) + " has world size " + std::to_string(r.world_size()) +
                      " but the job has " + std::to_string(options.world_size));
      }
      Status registered = registry.Register(r.rank(), r.hostname(), r.pid(), Clock::now());
      if (!registered.ok()) return refuse(registered.message());
      *session_rank = r.rank();
      JobPlan* plan = reply.mutable_register_response()->mutable_plan();
      plan->set_seed(options.seed);
      plan->set_shuffle(options.shuffle);
      plan->set_global_batch(options.global_batch);
      for (int64_t size : options.shard_sizes) plan->add_shard_sizes(size);
      return reply;
    }
    case Envelope::kHeartbeat: {
      const Heartbeat& h = request.heartbeat();
      if (*session_rank < 0 || h.rank() != *session_rank) {
        return refuse("heartbeat for rank " + std::to_string(h.rank()) +
                      " on a connection that did not register it");
      }
      registry.Heartbeat(h, Clock::now());
      HeartbeatResponse* response = reply.mutable_heartbeat_response();
      response->set_abort(registry.aborted());
      response->set_reason(registry.abort_reason());
      return reply;
    }
    case Envelope::kDone: {
      if (*session_rank < 0) return refuse("Done from a connection that registered no rank");
      registry.MarkDone(*session_rank);
      *session_rank = -1;  // its disconnect is expected now
      reply.mutable_done_response();
      return reply;
    }
    default:
      return refuse("unexpected message type " + std::to_string(request.body_case()));
  }
}

void Coordinator::Impl::AcceptRpc() {
  acceptor.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error) return;  // stopped
    std::make_shared<RpcSession>(std::move(socket), this)->Start();
    AcceptRpc();
  });
}

void Coordinator::Impl::AcceptHttp() {
  http_acceptor.async_accept([this](boost::system::error_code error, tcp::socket socket) {
    if (error) return;
    std::make_shared<HttpSession>(std::move(socket), this)->Start();
    AcceptHttp();
  });
}

void Coordinator::Impl::ArmWatchdog() {
  watchdog.expires_after(std::chrono::milliseconds(100));
  watchdog.async_wait([this](boost::system::error_code error) {
    if (error) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      registry.CheckLiveness(Clock::now());
    }
    ArmWatchdog();
  });
}

namespace {

Status Listen(tcp::acceptor* acceptor, const std::string& host, int port, const char* what) {
  boost::system::error_code error;
  asio::ip::address address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, error);
  if (error) return InvalidArgumentError(std::string(what) + ": bad address '" + host + "'");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
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
  if (options.world_size < 1) return InvalidArgumentError("coordinator: world size must be >= 1");
  if (!IsLoopbackHost(options.host) && options.job_token.empty()) {
    return InvalidArgumentError("coordinator: binding " + options.host +
                                " (not loopback) requires a job token; pass --job-token-file");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  RETURN_IF_ERROR(Listen(&impl->acceptor, impl->options.host, impl->options.port, "coordinator"));
  if (impl->options.http_port >= 0) {
    RETURN_IF_ERROR(Listen(&impl->http_acceptor, impl->options.host, impl->options.http_port,
                           "coordinator status page"));
    impl->AcceptHttp();
  }
  impl->AcceptRpc();
  impl->ArmWatchdog();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

Coordinator::Coordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Coordinator::~Coordinator() { Stop(); }

void Coordinator::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
}

int Coordinator::port() const { return impl_->acceptor.local_endpoint().port(); }
int Coordinator::http_port() const {
  return impl_->http_acceptor.is_open() ? impl_->http_acceptor.local_endpoint().port() : -1;
}
bool Coordinator::aborted() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.aborted();
}
std::string Coordinator::abort_reason() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.abort_reason();
}
bool Coordinator::all_done() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.all_done();
}
std::string Coordinator::StatusJson() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->registry.StatusJson(Clock::now());
}

}  // namespace shardtrain::coordinator
