// MpiCommunicator and CreateCommunicator under mpirun (2 or 3 ranks): sums of
// small integers (exact in any order) for each dtype, broadcasts from two
// roots, argument errors, and the factory's choices with a real MPI world.
// Under the simulated multi-node launch (tests/mpi/multinode_env.sh, which sets
// SHARDTRAIN_MPI_TEST_ONE_RANK_PER_NODE=1) every rank is alone on its node and
// the sums go over MPI messages instead of the shared-memory window.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/communicator_factory.h"
#include "worker/comm/mpi_communicator.h"

namespace shardtrain::comm {
namespace {

class MpiCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(testing::Runtime());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(comm).value();
    rank_ = comm_->rank();
    world_ = comm_->world_size();
  }
  // Sum over ranks r of (r + 1).
  int64_t RankSum() const { return int64_t{world_} * (world_ + 1) / 2; }

  std::unique_ptr<MpiCommunicator> comm_;
  int rank_ = 0;
  int world_ = 1;
};

TEST_F(MpiCommunicatorTest, RankAndSizeMatchRuntime) {
  EXPECT_EQ(comm_->rank(), testing::Runtime()->rank());
  EXPECT_EQ(comm_->world_size(), testing::Runtime()->world_size());
  const char* one_per_node = std::getenv("SHARDTRAIN_MPI_TEST_ONE_RANK_PER_NODE");
  if (one_per_node != nullptr && std::string(one_per_node) == "1") {
    EXPECT_EQ(testing::Runtime()->local_size(), 1);
    EXPECT_FALSE(comm_->shared_memory_enabled()) << "ranks on separate nodes share no window";
    StatusOr<float*> buffer = comm_->AllocateGradientBuffer(1024);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_EQ(*buffer, nullptr) << "gradients must fall back to MPI allreduce";
  } else {  // every rank on this one machine
    EXPECT_EQ(testing::Runtime()->local_size(), comm_->world_size());
    EXPECT_TRUE(comm_->shared_memory_enabled());
  }
  EXPECT_GE(world_, 2) << "run under mpirun -np 2 or more";
  EXPECT_EQ(comm_->name(), "mpi");
  EXPECT_GE(testing::Runtime()->local_rank(), 0);
  EXPECT_LT(testing::Runtime()->local_rank(), testing::Runtime()->local_size());
  EXPECT_FALSE(testing::Runtime()->library_version().empty());
  EXPECT_TRUE(LaunchedByMpirun());
}

template <typename T>
void CheckSum(Communicator* comm, int rank, int64_t rank_sum) {
  constexpr int64_t kCount = 1001;
  std::vector<T> data(kCount);
  for (int64_t i = 0; i < kCount; ++i) data[i] = static_cast<T>((rank + 1) * (i % 13 + 1));
  ASSERT_TRUE(comm->AllReduceSum(data.data(), kCount, DTypeOf<T>()).ok());
  for (int64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(data[i], static_cast<T>(rank_sum * (i % 13 + 1))) << "element " << i;
  }
}

TEST_F(MpiCommunicatorTest, AllReduceSumFloat32) { CheckSum<float>(comm_.get(), rank_, RankSum()); }
TEST_F(MpiCommunicatorTest, AllReduceSumFloat64) {
  CheckSum<double>(comm_.get(), rank_, RankSum());
}
TEST_F(MpiCommunicatorTest, AllReduceSumInt64) {
  CheckSum<int64_t>(comm_.get(), rank_, RankSum());
}

TEST_F(MpiCommunicatorTest, AllReduceSumInt64BeyondFloatPrecision) {
  int64_t value = (int64_t{1} << 40) + rank_;
  ASSERT_TRUE(comm_->AllReduceSum(&value, 1, DType::kInt64).ok());
  EXPECT_EQ(value, world_ * (int64_t{1} << 40) + int64_t{world_} * (world_ - 1) / 2);
}

TEST_F(MpiCommunicatorTest, ZeroCountIsOk) {
  EXPECT_TRUE(comm_->AllReduceSum(nullptr, 0, DType::kFloat32).ok());
  EXPECT_TRUE(comm_->Broadcast(nullptr, 0, 0).ok());
}

TEST_F(MpiCommunicatorTest, BadArgumentsFailOnEveryRankWithoutCommunicating) {
  float x = 1;
  Status status = comm_->AllReduceSum(&x, 1, DType::kInt32);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("int32"), std::string::npos) << status;
  EXPECT_EQ(comm_->AllReduceSum(&x, -1, DType::kFloat32).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm_->AllReduceSum(nullptr, 4, DType::kFloat32).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(comm_->Broadcast(&x, 4, world_).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm_->Broadcast(&x, 4, -1).code(), StatusCode::kInvalidArgument);
  // The communicator still works afterwards.
  EXPECT_TRUE(comm_->Barrier().ok());
}

void CheckBroadcast(Communicator* comm, int rank, int root) {
  std::vector<uint8_t> data(3001);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(rank == root ? (i * 7 + root) : 0xEE);
  }
  ASSERT_TRUE(comm->Broadcast(data.data(), static_cast<int64_t>(data.size()), root).ok());
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_EQ(data[i], static_cast<uint8_t>(i * 7 + root)) << "byte " << i << " root " << root;
  }
}

TEST_F(MpiCommunicatorTest, BroadcastFromRank0) { CheckBroadcast(comm_.get(), rank_, 0); }
TEST_F(MpiCommunicatorTest, BroadcastFromRank1) { CheckBroadcast(comm_.get(), rank_, 1); }

TEST_F(MpiCommunicatorTest, BarrierReturns) { EXPECT_TRUE(comm_->Barrier().ok()); }

TEST(CommunicatorFactoryMpiTest, AutoOnCpuPicksMpi) {
  StatusOr<std::unique_ptr<Communicator>> comm =
      CreateCommunicator("auto", /*device_is_cuda=*/false, testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->name(), "mpi");
  EXPECT_EQ((*comm)->world_size(), testing::Runtime()->world_size());
  int64_t one = 1;
  ASSERT_TRUE((*comm)->AllReduceSum(&one, 1, DType::kInt64).ok());
  EXPECT_EQ(one, testing::Runtime()->world_size());
}

TEST(CommunicatorFactoryMpiTest, ExplicitMpiOnCpu) {
  StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator("mpi", false, testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->name(), "mpi");
}

// With a CUDA device the trainer stages the gradient buckets through pinned
// host memory for MPI (GradientReducer::CreateForDevice).
TEST(CommunicatorFactoryMpiTest, ExplicitMpiWithCudaDevice) {
  StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator("mpi", true, testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->name(), "mpi");
}

TEST(CommunicatorFactoryMpiTest, LocalRefusesSeveralRanks) {
  StatusOr<std::unique_ptr<Communicator>> comm =
      CreateCommunicator("local", false, testing::Runtime());
  EXPECT_EQ(comm.status().code(), StatusCode::kFailedPrecondition);
}

TEST(CommunicatorFactoryMpiTest, NcclOnCpuDeviceFails) {
  StatusOr<std::unique_ptr<Communicator>> comm =
      CreateCommunicator("nccl", false, testing::Runtime());
  EXPECT_EQ(comm.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(comm.status().message().empty());
}

// Only when SHARDTRAIN_MPI_TEST_FAIL_ON_RANK names this rank: fails, so the
// ctest case mpi_failure_propagates can check that one failing rank fails the run.
TEST(SelfCheck, FailsOnSelectedRank) {
  const char* env = std::getenv("SHARDTRAIN_MPI_TEST_FAIL_ON_RANK");
  if (env == nullptr) GTEST_SKIP() << "set SHARDTRAIN_MPI_TEST_FAIL_ON_RANK to use";
  EXPECT_NE(std::atoi(env), testing::Runtime()->rank()) << "deliberate failure";
}

}  // namespace
}  // namespace shardtrain::comm
