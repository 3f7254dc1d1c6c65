// The coordinator service on loopback: registration and the job plan,
// heartbeats and /status, aborts naming a silent or vanished rank, and
// rejection of malformed, oversized and unauthenticated peers while the job
// keeps being served.
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <chrono>
#include <thread>

#include "coordinator/rpc/coordinator_client.h"

namespace shardtrain::coordinator {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

CoordinatorOptions Options(int world, double timeout = 60) {
  CoordinatorOptions o;
  o.world_size = world;
  o.heartbeat_timeout_seconds = timeout;
  o.seed = 7;
  o.global_batch = 64;
  o.shard_sizes = {100, 50};
  o.job_token = "secret";
  return o;
}

std::unique_ptr<CoordinatorClient> MustConnect(const Coordinator& c, int rank, int world) {
  auto client = CoordinatorClient::Connect("127.0.0.1", c.port(), "secret", rank, world, 5);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

// Sends raw bytes on a fresh connection; returns true if the server closed it.
bool ServerClosesAfter(int port, const std::string& bytes) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  asio::write(socket, asio::buffer(bytes));
  char buffer[256];
  boost::system::error_code error;
  // Drain whatever reply comes until the server closes (eof) or 5 s pass.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    socket.read_some(asio::buffer(buffer), error);
    if (error) return error == asio::error::eof || error == asio::error::connection_reset;
  }
  return false;
}

std::string HttpGet(int port, const std::string& path) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  asio::write(socket, asio::buffer("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string response;
  char buffer[4096];
  boost::system::error_code error;
  while (!error) {
    size_t n = socket.read_some(asio::buffer(buffer), error);
    response.append(buffer, n);
  }
  return response;
}

TEST(CoordinatorTest, RegistersRanksAndServesThePlanAndStatus) {
  auto c = Coordinator::Start(Options(2));
  ASSERT_TRUE(c.ok()) << c.status();
  auto r0 = MustConnect(**c, 0, 2);
  auto r1 = MustConnect(**c, 1, 2);
  ASSERT_TRUE(r0 && r1);
  EXPECT_EQ(r1->plan().seed(), 7u);
  EXPECT_EQ(r1->plan().global_batch(), 64);
  ASSERT_EQ(r1->plan().shard_sizes_size(), 2);
  EXPECT_EQ(r1->plan().shard_sizes(1), 50);

  Heartbeat h;
  h.set_rank(0);
  h.set_epoch(2);
  h.set_step(99);
  h.set_loss(0.5);
  h.set_examples_per_sec(1000);
  auto reply = r0->SendHeartbeat(h);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->abort);

  std::string status = HttpGet((*c)->http_port(), "/status");
  EXPECT_NE(status.find("200 OK"), std::string::npos) << status;
  EXPECT_NE(status.find("\"epoch\": 2, \"step\": 99"), std::string::npos) << status;
  EXPECT_NE(status.find("\"world_size\": 2"), std::string::npos);
  EXPECT_NE(status.find("\"last_heartbeat_age_seconds\": "), std::string::npos);
  EXPECT_NE(status.find("\"aborted\": false"), std::string::npos);
  EXPECT_NE(HttpGet((*c)->http_port(), "/nope").find("404 Not Found"), std::string::npos);

  EXPECT_TRUE(r0->Done().ok());
  EXPECT_TRUE(r1->Done().ok());
  r0.reset();
  r1.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE((*c)->all_done());
  EXPECT_FALSE((*c)->aborted()) << (*c)->abort_reason();
}

TEST(CoordinatorTest, SilentRankAbortsTheJobNamingIt) {
  auto c = Coordinator::Start(Options(2, /*timeout=*/0.5));
  ASSERT_TRUE(c.ok());
  auto r0 = MustConnect(**c, 0, 2);
  auto r1 = MustConnect(**c, 1, 2);
  Heartbeat h;
  h.set_rank(0);
  HeartbeatReply last;
  for (int i = 0; i < 20 && !last.abort; ++i) {  // rank 0 keeps beating, rank 1 is silent
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto reply = r0->SendHeartbeat(h);
    ASSERT_TRUE(reply.ok());
    last = *reply;
  }
  ASSERT_TRUE(last.abort);
  EXPECT_NE(last.reason.find("rank 1 (host "), std::string::npos) << last.reason;
  EXPECT_NE(last.reason.find("stopped sending heartbeats"), std::string::npos) << last.reason;
  EXPECT_TRUE((*c)->aborted());
}

TEST(CoordinatorTest, VanishedRankAbortsTheJobNamingIt) {
  auto c = Coordinator::Start(Options(2));
  ASSERT_TRUE(c.ok());
  auto r0 = MustConnect(**c, 0, 2);
  auto r1 = MustConnect(**c, 1, 2);
  r1.reset();  // closes the connection without Done, as a killed process would
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Heartbeat h;
  h.set_rank(0);
  auto reply = r0->SendHeartbeat(h);
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->abort);
  EXPECT_NE(reply->reason.find("rank 1 (host "), std::string::npos) << reply->reason;
  EXPECT_NE(reply->reason.find("disconnected (process died?)"), std::string::npos);
}

TEST(CoordinatorTest, RejectsBadPeersAndKeepsServingTheJob) {
  auto c = Coordinator::Start(Options(2));
  ASSERT_TRUE(c.ok());
  auto r0 = MustConnect(**c, 0, 2);
  ASSERT_TRUE(r0);
  const int port = (*c)->port();
  // Malformed: a 5-byte body that is not an Envelope.
  EXPECT_TRUE(ServerClosesAfter(port, std::string("\x05\x00\x00\x00", 4) + "\xff\xff\xff\xff\xff"));
  // Oversized: a length of 1 GiB, closed before any body is read.
  EXPECT_TRUE(ServerClosesAfter(port, std::string("\x00\x00\x00\x40", 4)));
  // Unauthenticated: a registration with the wrong token.
  auto intruder = CoordinatorClient::Connect("127.0.0.1", port, "guess", 1, 2, 5);
  ASSERT_FALSE(intruder.ok());
  EXPECT_EQ(intruder.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(intruder.status().message().find("wrong or missing job token"), std::string::npos);
  // A rank claimed twice is refused too.
  auto twin = CoordinatorClient::Connect("127.0.0.1", port, "secret", 0, 2, 5);
  ASSERT_FALSE(twin.ok());
  EXPECT_NE(twin.status().message().find("rank 0 is already registered"), std::string::npos);

  // The job is unharmed: rank 1 registers, rank 0's heartbeats still answer.
  auto r1 = MustConnect(**c, 1, 2);
  ASSERT_TRUE(r1);
  Heartbeat h;
  h.set_rank(0);
  auto reply = r0->SendHeartbeat(h);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->abort) << reply->reason;
  EXPECT_FALSE((*c)->aborted());
}

TEST(CoordinatorTest, NonLoopbackNeedsAToken) {
  CoordinatorOptions o = Options(1);
  o.host = "0.0.0.0";
  o.job_token.clear();
  auto c = Coordinator::Start(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("requires a job token"), std::string::npos);
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("10.1.2.3"));
}

TEST(CoordinatorClientTest, UnreachableCoordinatorIsUnavailableNamingIt) {
  auto client = CoordinatorClient::Connect("127.0.0.1", 1, "", 0, 1, 0.3);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(client.status().message().find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace shardtrain::coordinator
