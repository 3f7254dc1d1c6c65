// WorkerRegistry with a fake clock: registration errors, the exact abort
// reasons for a silent or vanished rank, Done, and progress aggregation in
// the /status document.
#include "coordinator/worker_registry.h"

#include <gtest/gtest.h>

namespace shardtrain::coordinator {
namespace {

using std::chrono::milliseconds;

WorkerRegistry::TimePoint T(int64_t ms) { return WorkerRegistry::TimePoint(milliseconds(ms)); }

TEST(WorkerRegistryTest, RegistrationErrors) {
  WorkerRegistry registry(2, 60);
  EXPECT_TRUE(registry.Register(0, "a", 10, T(0)).ok());
  EXPECT_EQ(registry.Register(0, "b", 11, T(0)),
            AlreadyExistsError("rank 0 is already registered by rank 0 (host a, pid 10); two "
                               "processes claim the same rank"));
  EXPECT_EQ(registry.Register(2, "b", 11, T(0)),
            InvalidArgumentError("rank 2 is outside the job's ranks [0, 2)"));
  EXPECT_EQ(registry.Register(-1, "b", 11, T(0)).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(registry.aborted());
}

TEST(WorkerRegistryTest, SilentRankAbortsWithItsName) {
  WorkerRegistry registry(2, 1.5);
  ASSERT_TRUE(registry.Register(0, "a", 10, T(0)).ok());
  ASSERT_TRUE(registry.Register(1, "b", 11, T(0)).ok());
  Heartbeat h;
  h.set_rank(0);
  registry.RecordHeartbeat(h, T(1000));
  registry.CheckLiveness(T(1500));
  EXPECT_FALSE(registry.aborted());
  registry.CheckLiveness(T(2000));  // rank 1: 2.0 s silent > 1.5
  ASSERT_TRUE(registry.aborted());
  EXPECT_EQ(registry.abort_reason(),
            "rank 1 (host b, pid 11) stopped sending heartbeats 2 s ago (timeout 1.5 s; is it "
            "stopped or hung?)");
  // The first reason is kept.
  registry.ConnectionClosed(0, "disconnected (process died?)");
  EXPECT_NE(registry.abort_reason().find("rank 1 (host b, pid 11)"), std::string::npos);
}

TEST(WorkerRegistryTest, ClosedConnectionAbortsUnlessDone) {
  WorkerRegistry registry(3, 60);
  ASSERT_TRUE(registry.Register(0, "a", 10, T(0)).ok());
  ASSERT_TRUE(registry.Register(1, "b", 11, T(0)).ok());
  ASSERT_TRUE(registry.Register(2, "c", 12, T(0)).ok());
  registry.MarkDone(0);
  registry.ConnectionClosed(0, "disconnected (process died?)");
  EXPECT_FALSE(registry.aborted());
  EXPECT_FALSE(registry.all_done());
  // A done rank may go quiet forever.
  registry.CheckLiveness(T(3600 * 1000));
  EXPECT_TRUE(registry.aborted());  // ranks 1 and 2 did not
  EXPECT_EQ(registry.abort_reason().rfind("rank 1 (host b, pid 11) stopped sending", 0), 0u);

  WorkerRegistry other(2, 60);
  ASSERT_TRUE(other.Register(1, "b", 11, T(0)).ok());
  other.ConnectionClosed(1, "disconnected (process died?)");
  EXPECT_EQ(other.abort_reason(), "rank 1 (host b, pid 11) disconnected (process died?)");
  EXPECT_TRUE(other.all_disconnected());
}

TEST(WorkerRegistryTest, AllDone) {
  WorkerRegistry registry(2, 60);
  ASSERT_TRUE(registry.Register(0, "a", 10, T(0)).ok());
  ASSERT_TRUE(registry.Register(1, "b", 11, T(0)).ok());
  registry.MarkDone(0);
  EXPECT_FALSE(registry.all_done());
  registry.MarkDone(1);
  EXPECT_TRUE(registry.all_done());
}

TEST(WorkerRegistryTest, StatusAggregatesTheLatestHeartbeats) {
  WorkerRegistry registry(2, 60);
  EXPECT_EQ(registry.StatusJson(T(0)),
            "{\"epoch\": 0, \"step\": 0, \"examples_per_sec\": 0, \"loss\": null, "
            "\"accuracy\": null, \"examples\": 0, \"world_size\": 2, \"aborted\": false, "
            "\"abort_reason\": null, \"ranks\": [{\"rank\": 0, \"registered\": false, "
            "\"connected\": false, \"done\": false, \"host\": null, \"pid\": null, "
            "\"last_heartbeat_age_seconds\": null, \"epoch\": 0, \"step\": 0, "
            "\"examples_per_sec\": 0}, {\"rank\": 1, \"registered\": false, \"connected\": "
            "false, \"done\": false, \"host\": null, \"pid\": null, "
            "\"last_heartbeat_age_seconds\": null, \"epoch\": 0, \"step\": 0, "
            "\"examples_per_sec\": 0}], \"last_checkpoint\": null}");
  ASSERT_TRUE(registry.Register(0, "a\"b", 10, T(0)).ok());
  ASSERT_TRUE(registry.Register(1, "c", 11, T(0)).ok());
  Heartbeat h0, h1;
  h0.set_rank(0);
  h0.set_epoch(3);
  h0.set_step(40);
  h0.set_examples(100);
  h0.set_loss_sum(50);
  h0.set_correct(80);
  h0.set_examples_per_sec(1000);
  h1.set_rank(1);
  h1.set_epoch(3);
  h1.set_step(39);
  h1.set_examples(100);
  h1.set_loss_sum(30);
  h1.set_correct(60);
  h1.set_examples_per_sec(500);
  registry.RecordHeartbeat(h0, T(1000));
  registry.RecordHeartbeat(h1, T(1500));
  const std::string json = registry.StatusJson(T(2000));
  // Slowest rank's step; loss and accuracy over both ranks' examples.
  EXPECT_EQ(json.rfind("{\"epoch\": 3, \"step\": 39, \"examples_per_sec\": 1500, \"loss\": 0.4, "
                       "\"accuracy\": 0.7, \"examples\": 200, \"world_size\": 2, ",
                       0),
            0u)
      << json;
  EXPECT_NE(json.find("\"host\": \"a\\\"b\", \"pid\": 10, \"last_heartbeat_age_seconds\": 1, "
                      "\"epoch\": 3, \"step\": 40"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"last_heartbeat_age_seconds\": 0.5"), std::string::npos) << json;
  registry.Abort("rank 0 failed: out of memory");
  EXPECT_NE(registry.StatusJson(T(2000)).find(
                "\"aborted\": true, \"abort_reason\": \"rank 0 failed: out of memory\""),
            std::string::npos);
}

}  // namespace
}  // namespace shardtrain::coordinator
