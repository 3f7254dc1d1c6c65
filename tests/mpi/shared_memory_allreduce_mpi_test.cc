// The single-copy shared-memory allreduce (SharedMemoryAllReduce behind
// MpiCommunicator::AllocateGradientBuffer/AllReduceSum) under mpirun on 2 and
// 3 ranks of one node: exact integer-valued sums for each dtype, results
// bit-identical on every rank and equal to the rank-order sum, sizes not
// divisible by the rank count, the 64-byte slice unit or the 8 KiB chunk,
// counts 0 and 1, sub-ranges at odd offsets leaving the rest untouched,
// several windows, many calls in a row, bucketed GradientReducer sums,
// mismatched descriptors failing on every rank, the MPI fallback for buffers
// outside a window, and the SHARDTRAIN_SHM_ALLREDUCE=0 opt-out.
// Single-threaded test code; every rank runs every test in the same order.
#include <mpi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/comm/mpi_communicator.h"

namespace shardtrain::comm {
namespace {

// Sizes around every boundary the implementation has: rank count (2, 3),
// 64-byte slice unit (16 floats / 8 doubles), 8 KiB chunk (2048 floats).
const std::vector<int64_t> kCounts = {1,    2,    3,    5,    15,   16,   17,   47,    48,
                                      49,   1000, 2047, 2048, 2049, 4095, 6145, 10007, 65537,
                                      (int64_t{1} << 20) + 3};

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Rank r's integer-valued input at i (exact in float: |value| < 2^24 summed).
int64_t IntValue(int rank, int64_t i) { return (rank + 1) * (i % 97 - 48) + 1000 * rank; }

// Rank r's arbitrary float input at i (sums round, so order matters).
float FloatValue(int rank, int64_t i) {
  const uint64_t bits = Mix(static_cast<uint64_t>(i) * 131 + static_cast<uint64_t>(rank));
  return static_cast<float>(static_cast<double>(bits >> 11) * 0x1.0p-53 * 2.0 - 1.0) *
         static_cast<float>(1 + (bits & 7));
}

// FNV-1a over the bytes.
uint64_t Hash(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// True when `value` is the same on every rank.
bool SameOnEveryRank(uint64_t value) {
  uint64_t lo = value, hi = value;
  EXPECT_EQ(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD),
            MPI_SUCCESS);
  EXPECT_EQ(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD),
            MPI_SUCCESS);
  return lo == hi;
}

class SharedMemoryAllReduceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(testing::Runtime());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(comm).value();
    rank_ = comm_->rank();
    world_ = comm_->world_size();
  }

  // A window buffer of `count` floats (also usable as count/2 doubles).
  float* Window(int64_t count) {
    StatusOr<float*> buffer = comm_->AllocateGradientBuffer(count);
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    EXPECT_NE(buffer.ok() ? *buffer : nullptr, nullptr);
    return buffer.ok() ? *buffer : nullptr;
  }

  std::unique_ptr<MpiCommunicator> comm_;
  int rank_ = 0;
  int world_ = 1;
};

TEST_F(SharedMemoryAllReduceTest, EnabledOnOneNodeAndZeroed) {
  ASSERT_GE(world_, 2) << "run under mpirun -np 2 or more";
  EXPECT_EQ(testing::Runtime()->local_size(), world_) << "these tests need one node";
  EXPECT_TRUE(comm_->shared_memory_enabled());
  constexpr int64_t kCount = 100003;
  float* buffer = Window(kCount);
  ASSERT_NE(buffer, nullptr);
  for (int64_t i = 0; i < kCount; ++i) ASSERT_EQ(buffer[i], 0.0f) << i;
  // Distinct windows for distinct calls; count 0 gives none.
  float* other = Window(16);
  EXPECT_NE(other, buffer);
  StatusOr<float*> none = comm_->AllocateGradientBuffer(0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  EXPECT_EQ(comm_->AllocateGradientBuffer(-1).status().code(), StatusCode::kInvalidArgument);
}

template <typename T>
void CheckExactSums(MpiCommunicator* comm, T* window, int rank, int world) {
  for (int64_t count : kCounts) {
    for (int64_t i = 0; i < count; ++i) window[i] = static_cast<T>(IntValue(rank, i));
    ASSERT_TRUE(comm->AllReduceSum(window, count, DTypeOf<T>()).ok()) << count;
    for (int64_t i = 0; i < count; ++i) {
      int64_t expected = 0;
      for (int r = 0; r < world; ++r) expected += IntValue(r, i);
      ASSERT_EQ(window[i], static_cast<T>(expected)) << "count " << count << " element " << i;
    }
    ASSERT_TRUE(SameOnEveryRank(Hash(window, static_cast<size_t>(count) * sizeof(T)))) << count;
  }
}

TEST_F(SharedMemoryAllReduceTest, ExactIntegerSumsFloat32) {
  float* window = Window(kCounts.back());
  ASSERT_NE(window, nullptr);
  CheckExactSums(comm_.get(), window, rank_, world_);
}

TEST_F(SharedMemoryAllReduceTest, ExactIntegerSumsFloat64) {
  float* window = Window(2 * kCounts.back());
  ASSERT_NE(window, nullptr);
  CheckExactSums(comm_.get(), reinterpret_cast<double*>(window), rank_, world_);
}

TEST_F(SharedMemoryAllReduceTest, ExactSumsInt64BeyondDoublePrecision) {
  float* window = Window(2 * 4099);
  ASSERT_NE(window, nullptr);
  auto* values = reinterpret_cast<int64_t*>(window);
  for (int64_t i = 0; i < 4099; ++i) values[i] = (int64_t{1} << 60) / 8 + i * 7 + rank_;
  ASSERT_TRUE(comm_->AllReduceSum(values, 4099, DType::kInt64).ok());
  for (int64_t i = 0; i < 4099; ++i) {
    ASSERT_EQ(values[i], world_ * ((int64_t{1} << 60) / 8 + i * 7) +
                             int64_t{world_} * (world_ - 1) / 2)
        << i;
  }
}

TEST_F(SharedMemoryAllReduceTest, BitIdenticalOnEveryRankAndInRankOrder) {
  float* window = Window(kCounts.back());
  ASSERT_NE(window, nullptr);
  for (int64_t count : kCounts) {
    for (int64_t i = 0; i < count; ++i) window[i] = FloatValue(rank_, i);
    ASSERT_TRUE(comm_->AllReduceSum(window, count, DType::kFloat32).ok());
    for (int64_t i = 0; i < count; ++i) {
      float expected = FloatValue(0, i);
      for (int r = 1; r < world_; ++r) expected += FloatValue(r, i);
      ASSERT_EQ(std::memcmp(&window[i], &expected, sizeof(float)), 0)
          << "count " << count << " element " << i << ": " << window[i] << " vs " << expected;
    }
    ASSERT_TRUE(SameOnEveryRank(Hash(window, static_cast<size_t>(count) * sizeof(float))))
        << count;
  }
}

TEST_F(SharedMemoryAllReduceTest, CountZeroAndOne) {
  float* window = Window(64);
  ASSERT_NE(window, nullptr);
  window[0] = static_cast<float>(rank_ + 1);
  window[1] = 7.0f;
  EXPECT_TRUE(comm_->AllReduceSum(window, 0, DType::kFloat32).ok());
  EXPECT_TRUE(comm_->AllReduceSum(window + 5, 0, DType::kFloat32).ok());
  EXPECT_TRUE(comm_->AllReduceSum(nullptr, 0, DType::kFloat32).ok());
  EXPECT_EQ(window[0], static_cast<float>(rank_ + 1));
  ASSERT_TRUE(comm_->AllReduceSum(window, 1, DType::kFloat32).ok());
  EXPECT_EQ(window[0], static_cast<float>(world_ * (world_ + 1) / 2));
  EXPECT_EQ(window[1], 7.0f);  // untouched
  // The last element of the window alone.
  window[63] = 2.0f;
  ASSERT_TRUE(comm_->AllReduceSum(window + 63, 1, DType::kFloat32).ok());
  EXPECT_EQ(window[63], 2.0f * world_);
}

TEST_F(SharedMemoryAllReduceTest, SubRangeAtOddOffsetLeavesTheRestAlone) {
  constexpr int64_t kCount = 20011;
  float* window = Window(kCount);
  ASSERT_NE(window, nullptr);
  for (int64_t offset : {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{2049}}) {
    const int64_t count = kCount - 2 * offset;
    for (int64_t i = 0; i < kCount; ++i) window[i] = static_cast<float>(IntValue(rank_, i));
    ASSERT_TRUE(comm_->AllReduceSum(window + offset, count, DType::kFloat32).ok());
    for (int64_t i = 0; i < kCount; ++i) {
      int64_t expected = IntValue(rank_, i);
      if (i >= offset && i < offset + count) {
        expected = 0;
        for (int r = 0; r < world_; ++r) expected += IntValue(r, i);
      }
      ASSERT_EQ(window[i], static_cast<float>(expected)) << "offset " << offset << " at " << i;
    }
  }
}

TEST_F(SharedMemoryAllReduceTest, TwoWindowsAndManyCallsInARow) {
  float* a = Window(333);
  float* b = Window(4097);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (int call = 0; call < 500; ++call) {
    float* buffer = call % 2 ? a : b;
    const int64_t count = call % 2 ? 333 : 4097;
    for (int64_t i = 0; i < count; ++i) buffer[i] = static_cast<float>(rank_ + call + i % 5);
    ASSERT_TRUE(comm_->AllReduceSum(buffer, count, DType::kFloat32).ok()) << call;
    const int64_t i = call % count;
    ASSERT_EQ(buffer[i],
              static_cast<float>(world_ * (call + i % 5) + int64_t{world_} * (world_ - 1) / 2))
        << "call " << call;
  }
}

TEST_F(SharedMemoryAllReduceTest, GradientReducerBucketsOverTheWindow) {
  constexpr int64_t kNumFloats = 10007;
  float* grads = Window(kNumFloats);
  ASSERT_NE(grads, nullptr);
  for (int64_t bucket_bytes : {int64_t{1024}, int64_t{4100}, int64_t{1} << 30}) {
    GradientReducer reducer(comm_.get(), kNumFloats, bucket_bytes);
    for (int64_t i = 0; i < kNumFloats; ++i) grads[i] = static_cast<float>(IntValue(rank_, i));
    double loss = 0.25 * (rank_ + 1);
    int64_t examples = rank_ + 1;
    ASSERT_TRUE(reducer.AllReduce(grads, &loss, &examples, nullptr).ok());
    for (int64_t i = 0; i < kNumFloats; ++i) {
      int64_t expected = 0;
      for (int r = 0; r < world_; ++r) expected += IntValue(r, i);
      ASSERT_EQ(grads[i], static_cast<float>(expected)) << "bucket " << bucket_bytes << " at " << i;
    }
    EXPECT_EQ(examples, int64_t{world_} * (world_ + 1) / 2);
    EXPECT_DOUBLE_EQ(loss, 0.25 * world_ * (world_ + 1) / 2);
  }
}

TEST_F(SharedMemoryAllReduceTest, MismatchedRangesFailOnEveryRankThenRecover) {
  float* window = Window(1024);
  ASSERT_NE(window, nullptr);
  // Same count, different offset on rank 0: every rank must see the mismatch.
  Status status = comm_->AllReduceSum(window + (rank_ == 0 ? 0 : 16), 64, DType::kFloat32);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("same range"), std::string::npos) << status;
  // Different counts.
  status = comm_->AllReduceSum(window, rank_ == world_ - 1 ? 32 : 64, DType::kFloat32);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  // Still usable.
  for (int i = 0; i < 1024; ++i) window[i] = 1.0f;
  ASSERT_TRUE(comm_->AllReduceSum(window, 1024, DType::kFloat32).ok());
  EXPECT_EQ(window[1023], static_cast<float>(world_));
}

TEST_F(SharedMemoryAllReduceTest, BuffersOutsideTheWindowUseMpi) {
  float* window = Window(4096);
  ASSERT_NE(window, nullptr);
  for (int64_t count : {int64_t{1}, int64_t{2049}, int64_t{65537}}) {
    std::vector<float> heap(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) heap[i] = static_cast<float>(IntValue(rank_, i));
    ASSERT_TRUE(comm_->AllReduceSum(heap.data(), count, DType::kFloat32).ok());
    for (int64_t i = 0; i < count; ++i) {
      int64_t expected = 0;
      for (int r = 0; r < world_; ++r) expected += IntValue(r, i);
      ASSERT_EQ(heap[i], static_cast<float>(expected)) << count << " at " << i;
    }
  }
  // Interleaved with window calls (the two paths keep their own order).
  double scalars[3] = {1.0, 2.0, static_cast<double>(rank_)};
  window[0] = 1.0f;
  ASSERT_TRUE(comm_->AllReduceSum(window, 4096, DType::kFloat32).ok());
  ASSERT_TRUE(comm_->AllReduceSumHostScalars(scalars, 3).ok());
  EXPECT_EQ(window[0], static_cast<float>(world_));
  EXPECT_EQ(scalars[2], world_ * (world_ - 1) / 2.0);
}

TEST(SharedMemoryAllReduceOptOut, OneRankWithTheVariableDisablesItForAll) {
  // Set on the last rank only: the vote must disable the fast path everywhere.
  const bool set_here = testing::Runtime()->rank() == testing::Runtime()->world_size() - 1;
  if (set_here) setenv("SHARDTRAIN_SHM_ALLREDUCE", "0", 1);
  StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(testing::Runtime());
  if (set_here) unsetenv("SHARDTRAIN_SHM_ALLREDUCE");
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_FALSE((*comm)->shared_memory_enabled());
  StatusOr<float*> buffer = (*comm)->AllocateGradientBuffer(100);
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_EQ(*buffer, nullptr);
  float x = 1.0f;
  ASSERT_TRUE((*comm)->AllReduceSum(&x, 1, DType::kFloat32).ok());
  EXPECT_EQ(x, static_cast<float>((*comm)->world_size()));
}

}  // namespace
}  // namespace shardtrain::comm
