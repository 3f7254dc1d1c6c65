#include "coordinator/rpc/coordinator_client.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <thread>

#include "coordinator/rpc/frame.h"

namespace shardtrain::coordinator {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Seconds every read or write may block before the coordinator counts as gone.
constexpr int kIoTimeoutSeconds = 30;

void SetIoTimeouts(tcp::socket& socket) {
  timeval tv{kIoTimeoutSeconds, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

}  // namespace

struct CoordinatorClient::Socket {
  asio::io_context io;
  tcp::socket socket{io};
};

CoordinatorClient::CoordinatorClient(std::unique_ptr<Socket> socket, std::string peer)
    : socket_(std::move(socket)), peer_(std::move(peer)) {}

CoordinatorClient::~CoordinatorClient() {
  boost::system::error_code ignored;
  socket_->socket.close(ignored);
}

StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    const std::string& host, int port, const std::string& job_token, int rank, int world_size,
    double timeout_seconds) {
  const std::string peer = host + ":" + std::to_string(port);
  auto socket = std::make_unique<Socket>();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  boost::system::error_code error;
  tcp::resolver resolver(socket->io);
  while (true) {
    auto endpoints = resolver.resolve(host, std::to_string(port), error);
    if (!error) asio::connect(socket->socket, endpoints, error);
    if (!error) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return UnavailableError("cannot reach the coordinator at " + peer + ": " + error.message() +
                              "; is it running (rank 0 hosts it, or `shardtrain coordinator`)?");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  SetIoTimeouts(socket->socket);
  std::unique_ptr<CoordinatorClient> client(new CoordinatorClient(std::move(socket), peer));
  Envelope request;
  RegisterRequest* r = request.mutable_register_request();
  r->set_rank(rank);
  r->set_world_size(world_size);
  r->set_job_token(job_token);
  r->set_hostname(Hostname());
  r->set_pid(getpid());
  ASSIGN_OR_RETURN(Envelope reply, client->Call(request));
  if (reply.has_error()) {
    const std::string& message = reply.error().message();
    if (message.find("token") != std::string::npos) {
      return PermissionDeniedError("the coordinator at " + peer + " refused rank " +
                                   std::to_string(rank) + ": " + message +
                                   " (share the token with --job-token-file)");
    }
    return FailedPreconditionError("the coordinator at " + peer + " refused rank " +
                                   std::to_string(rank) + ": " + message);
  }
  if (!reply.has_register_response()) {
    return InternalError("the coordinator at " + peer + " answered registration with message " +
                         std::to_string(reply.body_case()));
  }
  client->plan_ = reply.register_response().plan();
  return client;
}

StatusOr<Envelope> CoordinatorClient::Call(const Envelope& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  boost::system::error_code error;
  asio::write(socket_->socket, asio::buffer(EncodeFrame(request)), error);
  unsigned char header[kFrameHeaderBytes];
  if (!error) asio::read(socket_->socket, asio::buffer(header), error);
  if (error) {
    return UnavailableError("lost the coordinator at " + peer_ + ": " + error.message() +
                            " (did rank 0 or the coordinator process die?)");
  }
  uint32_t length = DecodeFrameLength(header);
  RETURN_IF_ERROR(CheckFrameLength(length, kDefaultMaxMessageBytes).WithContext(peer_));
  std::string body(length, '\0');
  asio::read(socket_->socket, asio::buffer(body), error);
  if (error) {
    return UnavailableError("lost the coordinator at " + peer_ + ": " + error.message());
  }
  return DecodeFrameBody(body);
}

StatusOr<HeartbeatReply> CoordinatorClient::SendHeartbeat(const Heartbeat& heartbeat) {
  Envelope request;
  *request.mutable_heartbeat() = heartbeat;
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (reply.has_error()) {
    return FailedPreconditionError("the coordinator at " + peer_ + " refused a heartbeat: " +
                                   reply.error().message());
  }
  return HeartbeatReply{reply.heartbeat_response().abort(), reply.heartbeat_response().reason()};
}

Status CoordinatorClient::Done() {
  Envelope request;
  request.mutable_done();
  ASSIGN_OR_RETURN(Envelope reply, Call(request));
  if (reply.has_error()) {
    return FailedPreconditionError("the coordinator at " + peer_ + " refused Done: " +
                                   reply.error().message());
  }
  return OkStatus();
}

}  // namespace shardtrain::coordinator
