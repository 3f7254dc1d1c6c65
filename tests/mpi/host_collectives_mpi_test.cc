// AgreeOnStatus and BroadcastHostString under mpirun (2 or 3 ranks): success
// stays success; a failure on any one rank (or several) becomes the same error,
// code and message, on every rank; strings of every byte value and length
// arrive intact from every root. Also the one-rank (local) behaviour.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/host_collectives.h"
#include "worker/comm/local_communicator.h"
#include "worker/comm/mpi_communicator.h"

namespace shardtrain::comm {
namespace {

class HostCollectivesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(testing::Runtime());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(comm).value();
    world_ = comm_->world_size();
  }
  std::unique_ptr<MpiCommunicator> comm_;
  int world_ = 1;
};

TEST_F(HostCollectivesTest, SuccessOnEveryRankIsSuccess) {
  Status agreed = AgreeOnStatus(*comm_, OkStatus(), "setting up");
  EXPECT_TRUE(agreed.ok()) << agreed;
}

TEST_F(HostCollectivesTest, FailureOnAnyOneRankIsTheSameErrorOnEveryRank) {
  for (int failing = 0; failing < world_; ++failing) {
    const Status local = comm_->rank() == failing
                             ? DataLossError("ckpt-7.data-00001-of-00002: CRC mismatch")
                             : OkStatus();
    Status agreed = AgreeOnStatus(*comm_, local, "restoring ckpt-7");
    EXPECT_EQ(agreed.code(), StatusCode::kDataLoss) << "failing rank " << failing;
    EXPECT_EQ(agreed.message(), "rank " + std::to_string(failing) + " of " +
                                    std::to_string(world_) +
                                    " failed restoring ckpt-7: ckpt-7.data-00001-of-00002: CRC "
                                    "mismatch");
  }
}

TEST_F(HostCollectivesTest, SeveralFailuresReportTheLowestRankAndCountTheOthers) {
  // Every rank but 0 fails, each with its own code: rank 1's wins everywhere.
  const Status local =
      comm_->rank() == 0 ? OkStatus()
      : comm_->rank() == 1 ? NotFoundError("no file x")
                           : InternalError("rank " + std::to_string(comm_->rank()) + " broke");
  Status agreed = AgreeOnStatus(*comm_, local, "saving");
  EXPECT_EQ(agreed.code(), StatusCode::kNotFound);
  std::string expected = "rank 1 of " + std::to_string(world_) + " failed saving: no file x";
  if (world_ == 3) {
    expected += " (and 1 other rank failed too)";
  }
  EXPECT_EQ(agreed.message(), expected);
}

TEST_F(HostCollectivesTest, KeepingOwnErrorReturnsEachFailingRanksOwnError) {
  // Rank 0 and the last rank fail with their own codes; the others agree on rank 0's.
  const int last = world_ - 1;
  const Status local = comm_->rank() == 0      ? DataLossError("bad crc")
                       : comm_->rank() == last ? InternalError("disk gone")
                                               : OkStatus();
  Status agreed = AgreeOnStatusKeepingOwnError(*comm_, local, "saving");
  if (comm_->rank() == 0 || comm_->rank() == last) {
    EXPECT_EQ(agreed, local);
  } else {
    EXPECT_EQ(agreed.code(), StatusCode::kDataLoss);
    EXPECT_EQ(agreed.message(), "rank 0 of 3 failed saving: bad crc (and 1 other rank failed too)");
  }
  EXPECT_TRUE(AgreeOnStatusKeepingOwnError(*comm_, OkStatus(), "saving").ok());
}

TEST_F(HostCollectivesTest, BroadcastHostStringCarriesEveryByteFromEveryRoot) {
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  for (const std::string& text : {std::string(), std::string("x"), std::string(100, 'k') + "!",
                                  all_bytes}) {
    for (int root = 0; root < world_; ++root) {
      const std::string mine = comm_->rank() == root ? text : "ignored on non-roots";
      StatusOr<std::string> received = BroadcastHostString(*comm_, mine, root);
      ASSERT_TRUE(received.ok()) << received.status();
      EXPECT_EQ(*received, text) << "root " << root << ", " << text.size() << " bytes";
    }
  }
}

TEST_F(HostCollectivesTest, BroadcastHostStringRejectsABadRootOnEveryRank) {
  StatusOr<std::string> received = BroadcastHostString(*comm_, "x", world_);
  EXPECT_EQ(received.status().code(), StatusCode::kInvalidArgument);
}

TEST(HostCollectivesLocalTest, OneRankReturnsItsOwnStatusUnchanged) {
  LocalCommunicator local;
  EXPECT_TRUE(AgreeOnStatus(local, OkStatus(), "x").ok());
  Status failed = AgreeOnStatus(local, DataLossError("bad"), "restoring");
  EXPECT_EQ(failed.code(), StatusCode::kDataLoss);
  EXPECT_EQ(failed.message(), "bad");
  StatusOr<std::string> text = BroadcastHostString(local, "hello", 0);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "hello");
}

}  // namespace
}  // namespace shardtrain::comm
