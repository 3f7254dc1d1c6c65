// JobMonitor against an in-process coordinator: the training thread records
// batches and epochs while the heartbeat thread (a short interval, so the two
// overlap all the time) sends them, and the coordinator's status shows the
// last epoch and step. Part of the ThreadSanitizer subset
// (scripts/sanitize.sh thread): the callbacks and the heartbeat thread share
// the monitor's progress message and the client's socket.
#include "worker/job_monitor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"

namespace shardtrain {
namespace {

constexpr int64_t kSteps = 200;

callbacks::BatchEnd Batch(int64_t step) {
  callbacks::BatchEnd batch;
  batch.epoch = 1;
  batch.step_in_epoch = step;
  batch.steps_per_epoch = kSteps;
  batch.global_step = step;
  batch.examples = 32 * step;
  batch.examples_per_sec = 1000;
  batch.logs = {{"loss", 1.0 / static_cast<double>(step)}, {"accuracy", 0.5}};
  return batch;
}

// Waits up to 10 s for `text` in the coordinator's status JSON.
bool StatusShows(const coordinator::Coordinator& c, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (c.StatusJson().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

TEST(JobMonitorTest, HeartbeatThreadSendsWhatTheTrainingThreadRecords) {
  coordinator::CoordinatorOptions options;
  options.http_port = -1;
  options.global_batch = 32;
  options.shard_sizes = {32 * kSteps};
  auto c = coordinator::Coordinator::Start(options);
  ASSERT_TRUE(c.ok()) << c.status();
  auto client = coordinator::CoordinatorClient::Connect("127.0.0.1", (*c)->port(), "", 0, 1, 5);
  ASSERT_TRUE(client.ok()) << client.status();
  {
    JobMonitor monitor(client->get(), 0, 0.001);
    callbacks::TrainBegin begin;
    begin.job_name = "monitored";
    begin.epochs = 1;
    begin.steps_per_epoch = kSteps;
    ASSERT_TRUE(monitor.OnTrainBegin(begin).ok());
    for (int64_t step = 1; step <= kSteps; ++step) {
      ASSERT_TRUE(monitor.OnBatchEnd(Batch(step)).ok());
      if (step % 20 == 0) {  // while the heartbeat thread uses the same client
        auto plan = (*client)->GetEpochAssignment(0, 32 * step);
        ASSERT_TRUE(plan.ok()) << plan.status();
      }
    }
    callbacks::EpochEnd epoch;
    epoch.epoch = 1;
    epoch.step = kSteps;
    epoch.logs = {{"loss", 0.25}, {"accuracy", 0.5}};
    ASSERT_TRUE(monitor.OnEpochEnd(epoch).ok());
    ASSERT_TRUE(monitor.OnTrainEnd().ok());
    EXPECT_TRUE(StatusShows(**c, "\"step\": " + std::to_string(kSteps)));
    EXPECT_TRUE(StatusShows(**c, "\"name\": \"monitored\""));
    EXPECT_TRUE(StatusShows(**c, "\"kind\": \"epoch\""));
  }  // Stop() joins the heartbeat thread
  EXPECT_TRUE((*client)->Done().ok());
  EXPECT_FALSE((*c)->aborted());
}

}  // namespace
}  // namespace shardtrain
