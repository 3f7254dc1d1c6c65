// worker/comm without mpirun: LocalCommunicator, the factory's refusals and
// choices for one process, bucket planning, and LaunchedByMpirun.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "worker/comm/communicator_factory.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/comm/local_communicator.h"

namespace shardtrain::comm {
namespace {

TEST(LocalCommunicatorTest, CollectivesAreIdentity) {
  LocalCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.world_size(), 1);
  EXPECT_EQ(comm.name(), "local");
  std::vector<double> data = {1.5, -2, 3};
  ASSERT_TRUE(comm.AllReduceSum(data.data(), 3, DType::kFloat64).ok());
  EXPECT_EQ(data, (std::vector<double>{1.5, -2, 3}));
  ASSERT_TRUE(comm.Broadcast(data.data(), 24, 0).ok());
  EXPECT_EQ(data, (std::vector<double>{1.5, -2, 3}));
  EXPECT_TRUE(comm.Barrier().ok());
  double scalars[3] = {1, 2, 3};
  ASSERT_TRUE(comm.AllReduceSumHostScalars(scalars, 3).ok());
  EXPECT_EQ(scalars[2], 3);
}

TEST(LocalCommunicatorTest, RejectsBadArguments) {
  LocalCommunicator comm;
  int32_t x = 0;
  EXPECT_EQ(comm.AllReduceSum(&x, 1, DType::kInt32).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.AllReduceSum(&x, -1, DType::kFloat32).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.AllReduceSum(nullptr, 2, DType::kFloat32).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.Broadcast(&x, 4, 1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.AllReduceSumHostScalars(nullptr, 17).code(), StatusCode::kInvalidArgument);
}

TEST(CommunicatorFactoryTest, AutoWithoutMpiIsLocal) {
  for (bool cuda : {false, true}) {
    StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator("auto", cuda, nullptr);
    ASSERT_TRUE(comm.ok()) << comm.status();
    EXPECT_EQ((*comm)->name(), "local");
  }
  StatusOr<std::unique_ptr<Communicator>> local = CreateCommunicator("local", false, nullptr);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ((*local)->name(), "local");
}

TEST(CommunicatorFactoryTest, NcclOnCpuIsFailedPreconditionWithReason) {
  StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator("nccl", false, nullptr);
  EXPECT_EQ(comm.status().code(), StatusCode::kFailedPrecondition);
  const std::string& message = comm.status().message();
  if (NcclCompiledIn()) {
    EXPECT_NE(message.find("CUDA device"), std::string::npos) << message;
  } else {
    EXPECT_NE(message.find("without CUDA/NCCL"), std::string::npos) << message;
  }
}

TEST(CommunicatorFactoryTest, NcclOnCudaDeviceNeedsNcclAndAGpu) {
  StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator("nccl", true, nullptr);
  if (comm.ok()) {
    // A machine with a GPU and NCCL: a one-rank NCCL communicator.
    EXPECT_EQ((*comm)->name(), "nccl");
    EXPECT_EQ((*comm)->world_size(), 1);
    return;
  }
  EXPECT_EQ(comm.status().code(), StatusCode::kFailedPrecondition) << comm.status();
  EXPECT_FALSE(comm.status().message().empty());
}

// mpi needs mpirun on either device (on CUDA the trainer stages the gradient
// buckets through pinned host memory, so the device is no reason to refuse).
TEST(CommunicatorFactoryTest, MpiWithoutRuntime) {
  for (const bool device_is_cuda : {false, true}) {
    StatusOr<std::unique_ptr<Communicator>> comm =
        CreateCommunicator("mpi", device_is_cuda, nullptr);
    EXPECT_EQ(comm.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(comm.status().message().find("mpirun"), std::string::npos) << comm.status();
  }
}

TEST(CommunicatorFactoryTest, UnknownCollective) {
  StatusOr<std::unique_ptr<Communicator>> comm = CreateCommunicator("gloo", false, nullptr);
  EXPECT_EQ(comm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(comm.status().message().find("gloo"), std::string::npos);
}

void CheckCovers(const std::vector<Bucket>& buckets, int64_t num_floats, int64_t per_bucket) {
  int64_t next = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    EXPECT_EQ(buckets[i].offset, next);
    EXPECT_GT(buckets[i].count, 0);
    EXPECT_LE(buckets[i].count, per_bucket);
    if (i + 1 < buckets.size()) {
      EXPECT_EQ(buckets[i].count, per_bucket);
    }
    next += buckets[i].count;
  }
  EXPECT_EQ(next, std::max<int64_t>(num_floats, 0));
}

TEST(PlanBucketsTest, Boundaries) {
  using V = std::vector<Bucket>;
  EXPECT_EQ(GradientReducer::PlanBuckets(0, 1024), V{});
  EXPECT_EQ(GradientReducer::PlanBuckets(-5, 1024), V{});
  EXPECT_EQ(GradientReducer::PlanBuckets(256, 1024), (V{{0, 256}}));
  EXPECT_EQ(GradientReducer::PlanBuckets(257, 1024), (V{{0, 256}, {256, 1}}));
  EXPECT_EQ(GradientReducer::PlanBuckets(10, 1026), (V{{0, 10}}));
  EXPECT_EQ(GradientReducer::PlanBuckets(5, 7), (V{{0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}}));
  EXPECT_EQ(GradientReducer::PlanBuckets(3, 0), (V{{0, 1}, {1, 1}, {2, 1}}));
  std::vector<Bucket> b = GradientReducer::PlanBuckets(10007, 1024);
  EXPECT_EQ(b.size(), 40u);
  EXPECT_EQ(b.back(), (Bucket{9984, 23}));
  CheckCovers(b, 10007, 256);
  // The reference MLP (784-512-10): 407,050 floats fit one default bucket.
  EXPECT_EQ(GradientReducer::PlanBuckets(407050, GradientReducer::kDefaultBucketBytes).size(), 1u);
  // 256 MB of floats in 25 MiB buckets: 11, each below Open MPI's 32 MiB cliff.
  std::vector<Bucket> big = GradientReducer::PlanBuckets(int64_t{64} << 20,
                                                         GradientReducer::kDefaultBucketBytes);
  EXPECT_EQ(big.size(), 11u);
  CheckCovers(big, int64_t{64} << 20, GradientReducer::kDefaultBucketBytes / 4);
  for (const Bucket& bucket : big) EXPECT_LT(bucket.count * 4, int64_t{32} << 20);
}

TEST(PlanBucketsTest, PureFunctionMatchesReducer) {
  LocalCommunicator comm;
  GradientReducer reducer(&comm, 12345, 4000);
  EXPECT_EQ(reducer.buckets(), GradientReducer::PlanBuckets(12345, 4000));
  EXPECT_EQ(reducer.buckets(), GradientReducer::PlanBuckets(12345, 4000));
}

TEST(OwnedSliceTest, ContiguousCoverOn64ByteBoundaries) {
  EXPECT_EQ(OwnedSlice(0, 4, 0, 2), (Slice{0, 0}));
  EXPECT_EQ(OwnedSlice(1, 4, 0, 2), (Slice{0, 0}));  // one 16-float unit: the last rank's
  EXPECT_EQ(OwnedSlice(1, 4, 1, 2), (Slice{0, 1}));
  EXPECT_EQ(OwnedSlice(100, 4, 0, 3), (Slice{0, 32}));  // 7 units of 16 floats: 2, 2, 3
  EXPECT_EQ(OwnedSlice(100, 4, 1, 3), (Slice{32, 64}));
  EXPECT_EQ(OwnedSlice(100, 4, 2, 3), (Slice{64, 100}));
  EXPECT_EQ(OwnedSlice(100, 8, 1, 2), (Slice{48, 100}));  // 13 units of 8 doubles: 6, 7
  for (int64_t count : {int64_t{5}, int64_t{407050}, int64_t{1} << 20}) {
    for (int size = 1; size <= 5; ++size) {
      int64_t next = 0;
      for (int rank = 0; rank < size; ++rank) {
        const Slice slice = OwnedSlice(count, 4, rank, size);
        EXPECT_EQ(slice.begin, next) << count << " " << rank << "/" << size;
        EXPECT_TRUE(slice.begin % 16 == 0 || slice.begin == count);
        EXPECT_GE(slice.end, slice.begin);
        next = slice.end;
      }
      EXPECT_EQ(next, count);
    }
  }
}

TEST(GradientReducerTest, LocalIsIdentityAndValidates) {
  LocalCommunicator comm;
  std::vector<float> grads(1000);
  std::iota(grads.begin(), grads.end(), 0.0f);
  GradientReducer reducer(&comm, 1000, 64);
  double loss = 3.5;
  int64_t examples = 7, correct = 5;
  ASSERT_TRUE(reducer.AllReduce(grads.data(), &loss, &examples, &correct).ok());
  EXPECT_EQ(grads[999], 999.0f);
  EXPECT_EQ(loss, 3.5);
  EXPECT_EQ(examples, 7);
  EXPECT_EQ(correct, 5);
  EXPECT_EQ(reducer.AllReduce(nullptr, nullptr, nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
  GradientReducer negative(&comm, -1, 64);
  EXPECT_EQ(negative.AllReduce(nullptr, nullptr, nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
}

TEST(LaunchedByMpirunTest, ReadsLauncherEnvironment) {
  const char* names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
  for (const char* name : names) unsetenv(name);
  EXPECT_FALSE(LaunchedByMpirun());
  for (const char* name : names) {
    setenv(name, "2", 1);
    EXPECT_TRUE(LaunchedByMpirun()) << name;
    unsetenv(name);
  }
  StatusOr<std::unique_ptr<MpiRuntime>> none = MpiRuntime::InitIfLaunchedByMpirun();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->get(), nullptr);
}

}  // namespace
}  // namespace shardtrain::comm
