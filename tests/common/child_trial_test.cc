// RunTrialInChild: work that returns is OK; a crash (SIGSEGV), a non-zero
// exit and a hang past the deadline become DataLoss / DeadlineExceeded
// naming what ran, and the calling process carries on.
#include "common/child_trial.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace shardtrain {
namespace {

TEST(ChildTrialTest, WorkThatReturnsIsOk) {
  int in_parent = 0;
  Status status = RunTrialInChild([&] { in_parent = 1; }, "reading x");
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(in_parent, 0) << "the work ran in the child, not here";
}

// (Under ASan the fault is reported and the child exits 1: "crashed (exit
// status 1)"; without, "crashed (signal 11, Segmentation fault)".)
TEST(ChildTrialTest, ACrashIsDataLossNamingWhatRan) {
  Status status = RunTrialInChild([] { raise(SIGSEGV); }, "reading model.h5");
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("reading model.h5 crashed ("), std::string::npos) << status;
}

TEST(ChildTrialTest, ANonZeroExitIsDataLoss) {
  Status status = RunTrialInChild([] { _exit(3); }, "reading model.h5");
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("reading model.h5 crashed (exit status 3)"), std::string::npos)
      << status;
}

TEST(ChildTrialTest, AHangIsKilledAtTheDeadline) {
  const auto start = std::chrono::steady_clock::now();
  Status status = RunTrialInChild([] { std::this_thread::sleep_for(std::chrono::minutes(5)); },
                                  "reading model.h5", std::chrono::milliseconds(300));
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::minutes(1));
}

}  // namespace
}  // namespace shardtrain
