// The coordinator service and client on loopback, in one process:
// registration and the job plan, epoch assignments equal to the pure planner's,
// heartbeats aggregated into GET /status, aborts naming a silent or vanished
// rank, rejection of garbage, oversized, unauthenticated and unregistered
// peers while the job keeps being served, refused checkpoint requests, and
// client deadlines. Every socket read in here has
// a deadline, so a broken server fails the test instead of hanging it.
#include "coordinator/coordinator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <utility>

#include "coordinator/rpc/coordinator_client.h"
#include "coordinator/rpc/frame.h"
#include "coordinator/rpc/socket_io.h"
#include "coordinator/shard_planner.h"

namespace shardtrain::coordinator {
namespace {

constexpr char kToken[] = "secret";

CoordinatorOptions Options(int world, double timeout = 60) {
  CoordinatorOptions o;
  o.world_size = world;
  o.heartbeat_timeout_seconds = timeout;
  o.seed = 7;
  o.global_batch = 64;
  o.shard_sizes = {100, 50, 33};
  o.job_token = kToken;
  return o;
}

std::unique_ptr<CoordinatorClient> MustConnect(const Coordinator& c, int rank, int world) {
  auto client = CoordinatorClient::Connect("127.0.0.1", c.port(), kToken, rank, world, 5);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

// A coordinator for two ranks, both registered (null clients when a step failed).
struct TwoRankJob {
  StatusOr<std::unique_ptr<Coordinator>> c;
  std::unique_ptr<CoordinatorClient> r0, r1;
  bool ok() const { return c.ok() && r0 != nullptr && r1 != nullptr; }
};

TwoRankJob StartTwoRanks(double timeout = 60) {
  TwoRankJob job{Coordinator::Start(Options(2, timeout)), nullptr, nullptr};
  EXPECT_TRUE(job.c.ok()) << job.c.status();
  if (job.c.ok()) {
    job.r0 = MustConnect(**job.c, 0, 2);
    job.r1 = MustConnect(**job.c, 1, 2);
  }
  return job;
}

// "rank R (host H, pid P)" for this process.
std::string Me(int rank) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return "rank " + std::to_string(rank) + " (host " + host + ", pid " + std::to_string(getpid()) +
         ")";
}

// What the server sends on a fresh connection after `bytes`, until it closes
// the connection. False if it keeps it open for 5 s.
bool ServerClosesAfter(int port, const std::string& bytes, std::string* received = nullptr) {
  const Deadline deadline = DeadlineAfter(5);
  StatusOr<int> fd = ConnectTcp("127.0.0.1", port, deadline);
  if (!fd.ok()) return false;
  const std::string peer = "127.0.0.1:" + std::to_string(port);
  Status written = WriteAll(*fd, bytes.data(), bytes.size(), deadline, peer);
  std::string data;
  Status read;
  while (written.ok() && read.ok()) {
    char c;
    read = ReadExactly(*fd, &c, 1, deadline, peer);
    if (read.ok()) data += c;
  }
  CloseSocket(*fd);
  if (received != nullptr) *received = data;
  return !written.ok() || read.code() == StatusCode::kUnavailable;
}

// A GET request's whole response (the server closes after it).
std::string HttpGet(int port, const std::string& path) {
  std::string response;
  EXPECT_TRUE(ServerClosesAfter(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n", &response));
  return response;
}

TEST(CoordinatorTest, RegistersRanksAndServesThePlanAssignmentsAndStatus) {
  auto [c, r0, r1] = StartTwoRanks();
  ASSERT_TRUE(c.ok() && r0 && r1);
  EXPECT_EQ(r1->plan().seed(), 7u);
  EXPECT_TRUE(r1->plan().shuffle());
  EXPECT_EQ(r1->plan().global_batch(), 64);
  ASSERT_EQ(r1->plan().shard_sizes_size(), 3);
  EXPECT_EQ(r1->plan().shard_sizes(1), 50);
  EXPECT_EQ(r1->heartbeat_timeout_seconds(), 60);

  // Assignments are the pure planner's, for a fresh epoch and a resumed one.
  const std::vector<int64_t> shards = {100, 50, 33};
  for (int64_t start : {0, 64, 128}) {
    for (int rank = 0; rank < 2; ++rank) {
      CoordinatorClient& client = rank == 0 ? *r0 : *r1;
      StatusOr<RankAssignment> got = client.GetEpochAssignment(3, start);
      ASSERT_TRUE(got.ok()) << got.status();
      RankAssignment want = AssignEpoch(7, 3, shards, true, 64, start, rank, 2);
      EXPECT_EQ(got->epoch, 3);
      EXPECT_EQ(got->first_step, start / 64);
      EXPECT_EQ(got->example_ids, want.example_ids) << "rank " << rank << " start " << start;
      EXPECT_EQ(got->step_counts, want.step_counts);
      EXPECT_EQ(got->step_offsets, want.step_offsets);
    }
  }
  // The epoch's end (183 examples: after the partial third batch), as a
  // checkpoint at the epoch's last step holds it: no steps left.
  for (CoordinatorClient* client : {r0.get(), r1.get()}) {
    StatusOr<RankAssignment> end = client->GetEpochAssignment(3, 183);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_EQ(end->first_step, 3);
    EXPECT_TRUE(end->step_counts.empty());
    EXPECT_TRUE(end->example_ids.empty());
  }
  // A bad position is refused, and the connection stays usable.
  StatusOr<RankAssignment> bad = r0->GetEpochAssignment(0, 10);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("a multiple of the global batch 64 within [0, 183]"),
            std::string::npos)
      << bad.status();

  HeartbeatInfo info0{/*epoch=*/2, /*step=*/99, /*examples=*/100, /*loss_sum=*/50,
                      /*correct=*/90, /*examples_per_sec=*/1000};
  HeartbeatInfo info1{2, 98, 100, 30, 70, 500};
  auto reply = r0->SendHeartbeat(info0);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->abort);
  EXPECT_EQ(reply->reason, "");
  ASSERT_TRUE(r1->SendHeartbeat(info1).ok());

  const std::string status = HttpGet((*c)->http_port(), "/status");
  EXPECT_EQ(status.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << status;
  EXPECT_NE(status.find("Content-Type: application/json"), std::string::npos) << status;
  EXPECT_NE(status.find("{\"epoch\": 2, \"step\": 98, \"examples_per_sec\": 1500, \"loss\": 0.4, "
                        "\"accuracy\": 0.8, \"examples\": 200, \"world_size\": 2, "
                        "\"aborted\": false, \"abort_reason\": null, \"ranks\": [{\"rank\": 0"),
            std::string::npos)
      << status;
  EXPECT_NE(status.find("\"last_heartbeat_age_seconds\": "), std::string::npos);
  EXPECT_NE(status.find("\"last_checkpoint\": null, \"job\": {"), std::string::npos);
  // A second request is served too.
  EXPECT_EQ(HttpGet((*c)->http_port(), "/status").rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  const std::string missing = HttpGet((*c)->http_port(), "/nope");
  EXPECT_EQ(missing.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << missing;
  EXPECT_NE(missing.find("{\"error\": \"not found; the endpoints are GET / (status page) and "
                         "GET /status (JSON)\"}"),
            std::string::npos);

  EXPECT_TRUE(r0->Done().ok());
  EXPECT_TRUE(r1->Done().ok());
  r0.reset();
  r1.reset();
  for (int i = 0; i < 50 && !(*c)->all_disconnected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE((*c)->all_done());
  EXPECT_TRUE((*c)->all_disconnected());
  EXPECT_FALSE((*c)->aborted()) << (*c)->abort_reason();
}

TEST(CoordinatorTest, SilentRankAbortsTheJobNamingIt) {
  // A timeout well above rank 0's 50 ms beats, so that a loaded machine (TSan,
  // -j2) stalling this thread does not make rank 0 look silent first.
  auto [c, r0, r1] = StartTwoRanks(/*timeout=*/2);
  ASSERT_TRUE(c.ok() && r0 && r1);
  HeartbeatReply last;
  for (int i = 0; i < 200 && !last.abort; ++i) {  // rank 0 keeps beating, rank 1 is silent
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto reply = r0->SendHeartbeat(HeartbeatInfo{});
    ASSERT_TRUE(reply.ok()) << reply.status();
    last = *reply;
  }
  ASSERT_TRUE(last.abort);
  const std::string prefix = Me(1) + " stopped sending heartbeats ";
  EXPECT_EQ(last.reason.rfind(prefix, 0), 0u) << last.reason;
  const std::string suffix = " s ago (timeout 2 s; is it stopped or hung?)";
  ASSERT_GT(last.reason.size(), suffix.size());
  EXPECT_EQ(last.reason.substr(last.reason.size() - suffix.size()), suffix) << last.reason;
  EXPECT_TRUE((*c)->aborted());
  EXPECT_EQ((*c)->abort_reason(), last.reason);
  // Once aborted, plans are refused with the reason.
  StatusOr<RankAssignment> plan = r0->GetEpochAssignment(0, 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kAborted);
  EXPECT_NE(plan.status().message().find("the job was aborted: " + prefix), std::string::npos);
  EXPECT_NE((*c)->StatusJson().find("\"aborted\": true, \"abort_reason\": \"" + prefix),
            std::string::npos);
}

TEST(CoordinatorTest, VanishedRankAbortsTheJobNamingIt) {
  auto [c, r0, r1] = StartTwoRanks();
  ASSERT_TRUE(c.ok() && r0 && r1);
  r1.reset();  // closes the connection without Done, as a killed process would
  for (int i = 0; i < 100 && !(*c)->aborted(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto reply = r0->SendHeartbeat(HeartbeatInfo{});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->abort);
  EXPECT_EQ(reply->reason, Me(1) + " disconnected (process died?)");
  EXPECT_EQ((*c)->abort_reason(), Me(1) + " disconnected (process died?)");
}

TEST(CoordinatorTest, HostCanAbortTheJob) {
  auto c = Coordinator::Start(Options(1));
  ASSERT_TRUE(c.ok());
  auto r0 = MustConnect(**c, 0, 1);
  ASSERT_TRUE(r0);
  (*c)->Abort("rank 0 failed: disk full");
  (*c)->Abort("a later reason");
  auto reply = r0->SendHeartbeat(HeartbeatInfo{});
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->abort);
  EXPECT_EQ(reply->reason, "rank 0 failed: disk full");
}

TEST(CoordinatorTest, RejectsBadPeersAndKeepsServingTheJob) {
  CoordinatorOptions options = Options(2);
  options.max_message_bytes = 4096;
  auto c = Coordinator::Start(options);
  ASSERT_TRUE(c.ok());
  auto r0 = MustConnect(**c, 0, 2);
  ASSERT_TRUE(r0);
  const int port = (*c)->port();
  std::string received;
  // Garbage: its first 4 bytes read as a length of ~1.9 GB; closed, no reply.
  EXPECT_TRUE(ServerClosesAfter(port, "this is not a frame at all\r\n", &received));
  EXPECT_EQ(received, "");
  // Malformed: a 5-byte body that is not an Envelope.
  EXPECT_TRUE(ServerClosesAfter(port, EncodeFrameHeader(5) + "\xff\xff\xff\xff\xff", &received));
  EXPECT_EQ(received, "");
  // Oversized: a length of 1 GiB, closed before any body is sent or read.
  EXPECT_TRUE(ServerClosesAfter(port, EncodeFrameHeader(1u << 30), &received));
  EXPECT_EQ(received, "");
  // Just over this coordinator's configured maximum.
  EXPECT_TRUE(ServerClosesAfter(port, EncodeFrameHeader(4097), &received));
  // A reply instead of a request.
  Envelope not_a_request;
  not_a_request.mutable_done_response();
  EXPECT_TRUE(ServerClosesAfter(port, EncodeFrame(not_a_request), &received));
  // Unauthenticated, on a raw socket: an ErrorReply, then the connection closes.
  Envelope intrusion;
  intrusion.mutable_register_request()->set_rank(1);
  intrusion.mutable_register_request()->set_world_size(2);
  intrusion.mutable_register_request()->set_job_token("guess");
  ASSERT_TRUE(ServerClosesAfter(port, EncodeFrame(intrusion), &received));
  ASSERT_GE(received.size(), kFrameHeaderBytes);
  StatusOr<Envelope> refusal = DecodeFrameBody(received.substr(kFrameHeaderBytes));
  ASSERT_TRUE(refusal.ok()) << refusal.status();
  EXPECT_EQ(refusal->error().code(), static_cast<int>(StatusCode::kPermissionDenied));
  EXPECT_EQ(refusal->error().message(), "wrong or missing job token");
  EXPECT_TRUE(refusal->error().connection_closed());
  // Unauthenticated through the client: wrong and missing tokens.
  for (const char* token : {"guess", ""}) {
    auto intruder = CoordinatorClient::Connect("127.0.0.1", port, token, 1, 2, 5);
    ASSERT_FALSE(intruder.ok());
    EXPECT_EQ(intruder.status(),
              PermissionDeniedError("the coordinator at 127.0.0.1:" + std::to_string(port) +
                                    " refused rank 1: the coordinator at 127.0.0.1:" +
                                    std::to_string(port) +
                                    " refused the request: wrong or missing job token"));
  }
  // A rank claimed twice, a rank outside the job, a different world size.
  auto twin = CoordinatorClient::Connect("127.0.0.1", port, kToken, 0, 2, 5);
  ASSERT_FALSE(twin.ok());
  EXPECT_EQ(twin.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(twin.status().message().find("rank 0 is already registered by " + Me(0) +
                                         "; two processes claim the same rank"),
            std::string::npos)
      << twin.status();
  auto outside = CoordinatorClient::Connect("127.0.0.1", port, kToken, 2, 2, 5);
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(outside.status().message().find("rank 2 is outside the job's ranks [0, 2)"),
            std::string::npos);
  auto wrong_world = CoordinatorClient::Connect("127.0.0.1", port, kToken, 1, 3, 5);
  ASSERT_FALSE(wrong_world.ok());
  EXPECT_EQ(wrong_world.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong_world.status().message().find("world size 3 but the job has 2 ranks"),
            std::string::npos);

  // The job is unharmed: rank 1 registers, both get answers.
  auto r1 = MustConnect(**c, 1, 2);
  ASSERT_TRUE(r1);
  auto reply = r0->SendHeartbeat(HeartbeatInfo{});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->abort) << reply->reason;
  StatusOr<RankAssignment> plan = r1->GetEpochAssignment(0, 0);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->example_ids, AssignEpoch(7, 0, {100, 50, 33}, true, 64, 0, 1, 2).example_ids);
  EXPECT_FALSE((*c)->aborted()) << (*c)->abort_reason();
  EXPECT_TRUE(r0->Done().ok());
  EXPECT_TRUE(r1->Done().ok());
}

// The reply to `request` sent alone on a fresh connection, which the server
// must then close.
Envelope ReplyBeforeClose(int port, const Envelope& request) {
  std::string received;
  EXPECT_TRUE(ServerClosesAfter(port, EncodeFrame(request), &received));
  if (received.size() < kFrameHeaderBytes) {
    ADD_FAILURE() << "no reply before the connection closed";
    return Envelope();
  }
  StatusOr<Envelope> reply = DecodeFrameBody(received.substr(kFrameHeaderBytes));
  EXPECT_TRUE(reply.ok()) << reply.status();
  return reply.ok() ? *reply : Envelope();
}

TEST(CoordinatorTest, RequestsWithoutRegistrationAreRefusedAndClosed) {
  auto c = Coordinator::Start(Options(2));
  ASSERT_TRUE(c.ok());
  const int port = (*c)->port();
  Envelope part;
  part.mutable_checkpoint_shard_written()->set_rank(1);
  Envelope heartbeat;
  heartbeat.mutable_heartbeat()->set_rank(1);
  Envelope plan;
  plan.mutable_epoch_plan_request()->set_rank(1);
  Envelope done;
  done.mutable_done()->set_rank(1);
  const std::pair<const Envelope*, std::string> cases[] = {
      {&part, "checkpoint part for rank 1 on a connection that did not register it"},
      {&heartbeat, "heartbeat for rank 1 on a connection that did not register it"},
      {&plan, "epoch plan request for rank 1 on a connection that did not register it"},
      {&done, "Done from a connection that registered no rank"},
  };
  for (const auto& [request, message] : cases) {
    const Envelope reply = ReplyBeforeClose(port, *request);
    EXPECT_EQ(reply.error().code(), static_cast<int>(StatusCode::kFailedPrecondition)) << message;
    EXPECT_EQ(reply.error().message(), message);
    EXPECT_TRUE(reply.error().connection_closed()) << message;
  }
  EXPECT_FALSE((*c)->aborted()) << (*c)->abort_reason();
}

TEST(CoordinatorTest, RefusedCheckpointRequestsNameTheirCodeAndKeepTheConnection) {
  auto [c, r0, r1] = StartTwoRanks();
  ASSERT_TRUE(c.ok() && r0 && r1);
  CheckpointCommitRequest commit;
  commit.set_prefix("/nonexistent/ckpt-1");
  commit.set_num_shards(2);
  StatusOr<CheckpointCommitReply> by_rank1 = r1->RequestCommit(commit);
  EXPECT_EQ(by_rank1.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(by_rank1.status().message().find(
                "only rank 0 commits checkpoints (this connection is rank 1)"),
            std::string::npos)
      << by_rank1.status();
  StatusOr<CheckpointCommitReply> unreported = r0->RequestCommit(commit);
  EXPECT_EQ(unreported.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(unreported.status().message().find("rank(s) 0, 1 did not report their part"),
            std::string::npos)
      << unreported.status();
  CheckpointShardWritten relative;
  relative.set_prefix("ckpt-1");
  relative.set_num_shards(2);
  Status part = r0->ReportShardWritten(relative);
  EXPECT_EQ(part.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(part.message().find("checkpoint prefix 'ckpt-1' is not an absolute path"),
            std::string::npos)
      << part;
  // The refusals left both connections usable.
  EXPECT_TRUE(r0->SendHeartbeat(HeartbeatInfo{}).ok());
  EXPECT_TRUE(r1->SendHeartbeat(HeartbeatInfo{}).ok());
  EXPECT_FALSE((*c)->aborted()) << (*c)->abort_reason();
}

TEST(CoordinatorTest, OptionsAreChecked) {
  CoordinatorOptions o = Options(1);
  o.host = "0.0.0.0";
  o.job_token.clear();
  auto c = Coordinator::Start(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status(), InvalidArgumentError("coordinator: listening on 0.0.0.0 (not loopback) "
                                             "requires a job token; pass --job-token-file"));
  o.job_token = "t";
  o.host = "not an address";
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(0);
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
  o = Options(1, /*timeout=*/0);
  EXPECT_EQ(Coordinator::Start(o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.3.0.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("10.1.2.3"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  // No HTTP endpoint when asked for none.
  o = Options(1);
  o.http_port = -1;
  auto quiet = Coordinator::Start(o);
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ((*quiet)->http_port(), -1);
  EXPECT_GT((*quiet)->port(), 0);
}

TEST(CoordinatorClientTest, UnreachableCoordinatorIsUnavailableNamingIt) {
  const auto start = std::chrono::steady_clock::now();
  auto client = CoordinatorClient::Connect("127.0.0.1", 1, "", 0, 1, 0.3);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(client.status().message().find("cannot connect to 127.0.0.1:1"), std::string::npos)
      << client.status();
  EXPECT_NE(client.status().message().find("(tried for 0.3 s); is the coordinator running?"),
            std::string::npos)
      << client.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(CoordinatorClientTest, WaitsForACoordinatorThatStartsLate) {
  // Find a free port, then start the coordinator on it after the client began.
  int port = 0;
  {
    auto probe = Coordinator::Start(Options(1));
    ASSERT_TRUE(probe.ok());
    port = (*probe)->port();
  }
  std::unique_ptr<Coordinator> late;
  std::thread starter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CoordinatorOptions o = Options(1);
    o.port = port;
    auto started = Coordinator::Start(o);
    if (started.ok()) late = std::move(*started);
  });
  auto client = CoordinatorClient::Connect("127.0.0.1", port, kToken, 0, 1, 5);
  starter.join();
  ASSERT_TRUE(late != nullptr);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Done().ok());
}

TEST(CoordinatorClientTest, HungOrDeadCoordinatorIsAnErrorNotAHang) {
  auto c = Coordinator::Start(Options(1));
  ASSERT_TRUE(c.ok());
  auto r0 = MustConnect(**c, 0, 1);
  ASSERT_TRUE(r0);
  const std::string peer = "127.0.0.1:" + std::to_string((*c)->port());
  (*c)->Stop();  // stops answering; connections stay open
  r0->set_io_timeout_seconds(0.3);
  const auto start = std::chrono::steady_clock::now();
  auto hung = r0->SendHeartbeat(HeartbeatInfo{});
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.status(),
            DeadlineExceededError("timed out reading from the coordinator at " + peer));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The connection is out of step now: later calls report the same error.
  EXPECT_EQ(r0->Done(), hung.status());

  auto c2 = Coordinator::Start(Options(1));
  ASSERT_TRUE(c2.ok());
  auto r = MustConnect(**c2, 0, 1);
  ASSERT_TRUE(r);
  const std::string peer2 = "127.0.0.1:" + std::to_string((*c2)->port());
  c2->reset();  // the coordinator process is gone
  auto dead = r->SendHeartbeat(HeartbeatInfo{});
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(dead.status().message().find(peer2), std::string::npos) << dead.status();
}

}  // namespace
}  // namespace shardtrain::coordinator
