// GradientReducer under mpirun: bucketed sums equal the single-bucket sum and
// the closed form exactly (small integers), scalars are summed, and a rank with
// no examples contributes zero.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/comm/mpi_communicator.h"

namespace shardtrain::comm {
namespace {

constexpr int64_t kNumFloats = 10007;  // prime: the last bucket is partial

class GradientReducerMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(testing::Runtime());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(comm).value();
    rank_ = comm_->rank();
    world_ = comm_->world_size();
  }
  // Rank r's gradient i: (r + 1) * (i % 97 - 48), a small integer.
  std::vector<float> Gradients() const {
    std::vector<float> grads(kNumFloats);
    for (int64_t i = 0; i < kNumFloats; ++i) grads[i] = float((rank_ + 1) * (i % 97 - 48));
    return grads;
  }

  std::unique_ptr<MpiCommunicator> comm_;
  int rank_ = 0;
  int world_ = 1;
};

TEST_F(GradientReducerMpiTest, SmallBucketsEqualOneBucketAndClosedForm) {
  GradientReducer small(comm_.get(), kNumFloats, /*bucket_bytes=*/1024);
  GradientReducer whole(comm_.get(), kNumFloats, /*bucket_bytes=*/int64_t{1} << 30);
  EXPECT_EQ(small.buckets().size(), 40u);  // 256 floats each, the last 23
  EXPECT_EQ(whole.buckets().size(), 1u);

  std::vector<float> a = Gradients();
  std::vector<float> b = Gradients();
  ASSERT_TRUE(small.AllReduce(a.data(), nullptr, nullptr, nullptr).ok());
  ASSERT_TRUE(whole.AllReduce(b.data(), nullptr, nullptr, nullptr).ok());
  const int64_t rank_sum = int64_t{world_} * (world_ + 1) / 2;
  for (int64_t i = 0; i < kNumFloats; ++i) {
    ASSERT_EQ(a[i], b[i]) << "element " << i;
    ASSERT_EQ(a[i], float(rank_sum * (i % 97 - 48))) << "element " << i;
  }
}

TEST_F(GradientReducerMpiTest, ScalarsAreSummed) {
  GradientReducer reducer(comm_.get(), kNumFloats, 4096);
  std::vector<float> grads = Gradients();
  double loss = 0.5 * (rank_ + 1);
  int64_t examples = 32 + rank_;
  int64_t correct = 10 * (rank_ + 1);
  ASSERT_TRUE(reducer.AllReduce(grads.data(), &loss, &examples, &correct).ok());
  const int64_t rank_sum = int64_t{world_} * (world_ + 1) / 2;
  EXPECT_EQ(loss, 0.5 * rank_sum);
  EXPECT_EQ(examples, 32 * world_ + int64_t{world_} * (world_ - 1) / 2);
  EXPECT_EQ(correct, 10 * rank_sum);
}

TEST_F(GradientReducerMpiTest, RankWithoutExamplesContributesZero) {
  // The last rank's data ran out: zero gradients, zero loss, zero counts.
  const bool empty = rank_ == world_ - 1;
  GradientReducer reducer(comm_.get(), kNumFloats, 1024);
  std::vector<float> grads = empty ? std::vector<float>(kNumFloats, 0.0f) : Gradients();
  double loss = empty ? 0.0 : 2.0 * (rank_ + 1);
  int64_t examples = empty ? 0 : 64;
  int64_t correct = empty ? 0 : 50;
  ASSERT_TRUE(reducer.AllReduce(grads.data(), &loss, &examples, &correct).ok());
  const int64_t others = world_ - 1;
  const int64_t rank_sum = others * (others + 1) / 2;  // ranks 0..world-2
  EXPECT_EQ(examples, 64 * others);
  EXPECT_EQ(correct, 50 * others);
  EXPECT_EQ(loss, 2.0 * rank_sum);
  for (int64_t i = 0; i < kNumFloats; ++i) {
    ASSERT_EQ(grads[i], float(rank_sum * (i % 97 - 48))) << "element " << i;
  }
}

TEST_F(GradientReducerMpiTest, NullScalarsAreSkipped) {
  GradientReducer reducer(comm_.get(), 3, 1024);
  float grads[3] = {1, 2, 3};
  int64_t examples = 1;
  ASSERT_TRUE(reducer.AllReduce(grads, nullptr, &examples, nullptr).ok());
  EXPECT_EQ(examples, world_);
  EXPECT_EQ(grads[2], 3.0f * world_);
}

}  // namespace
}  // namespace shardtrain::comm
