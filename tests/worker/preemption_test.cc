// The SIGTERM flag across threads: in a training process the signal may land
// on any thread (the job monitor's heartbeat thread, the coordinator's I/O
// thread, an OpenMP worker) while the training thread polls the flag. Under
// ThreadSanitizer (scripts/sanitize.sh thread) this test fails if the flag is
// a plain variable rather than an atomic.
#include "worker/preemption.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

namespace shardtrain {
namespace {

TEST(PreemptionTest, SigtermOnAnotherThreadIsSeenByThePollingThread) {
  ASSERT_TRUE(InstallPreemptionHandler().ok());
  // raise() in a multi-threaded process signals the calling thread only.
  std::thread other([] { std::raise(SIGTERM); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool seen = false;
  while (!(seen = PreemptionRequested()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  other.join();
  EXPECT_TRUE(seen);
  EXPECT_TRUE(PreemptionRequested());
}

}  // namespace
}  // namespace shardtrain
