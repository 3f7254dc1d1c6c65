// GradientReducer over device gradients under mpirun: each rank holds its
// gradients in strict-device memory (the host cannot touch it), the reducer
// stages them bucket by bucket through pinned memory for MPI, and the sums
// copied back equal, bit for bit, the same values reduced through the host path
// (the same MPI_Allreduce calls, so the same summation order), for several
// bucket sizes with an uneven last bucket, and the closed form for small
// integers. The scalars are summed too.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/comm/mpi_communicator.h"

namespace shardtrain::comm {
namespace {

using kernels::DeviceBuffer;
using kernels::Stream;

constexpr int64_t kNumFloats = 10007;  // prime: the last bucket is partial

class DeviceGradientReducerMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(testing::Runtime());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(comm).value();
    rank_ = comm_->rank();
    world_ = comm_->world_size();
    backend_ = kernels::CreateStrictDeviceBackend();
  }
  // Rank r's gradient i: values whose sums round (not exact in float).
  std::vector<float> Gradients() const {
    std::vector<float> grads(kNumFloats);
    for (int64_t i = 0; i < kNumFloats; ++i) {
      grads[i] = 0.1f * float((i * 31 + rank_ * 17) % 101) - 4.7f + 1e-4f * float(i * (rank_ + 1));
    }
    return grads;
  }
  // `host` in device memory, written on the compute stream (the "backward").
  DeviceBuffer ToDevice(const std::vector<float>& host) {
    StatusOr<DeviceBuffer> buffer = backend_->AllocateDevice(kNumFloats * 4, "gradients");
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    if (!buffer.ok()) return DeviceBuffer();
    backend_->CopyToDevice(buffer->data(), host.data(), kNumFloats * 4, Stream::kCompute);
    return std::move(buffer).value();
  }
  // The device gradients as the optimizer would see them: read on kCompute.
  std::vector<float> ToHost(const DeviceBuffer& device) {
    std::vector<float> out(kNumFloats);
    backend_->CopyToHost(out.data(), device.data(), kNumFloats * 4, Stream::kCompute);
    Status status = backend_->Synchronize();
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }

  std::unique_ptr<MpiCommunicator> comm_;
  std::unique_ptr<kernels::KernelBackend> backend_;
  int rank_ = 0;
  int world_ = 1;
};

TEST_F(DeviceGradientReducerMpiTest, DeviceSumsEqualTheHostPathBitForBit) {
  // 1024 B: 40 buckets, the last of 23 floats; 1000 B: 41 of 250 floats, the
  // last of 7; 40000 B: one bucket larger than the buffer.
  for (int64_t bucket_bytes : {1024, 1000, 40000}) {
    SCOPED_TRACE(bucket_bytes);
    GradientReducer host_path(comm_.get(), kNumFloats, bucket_bytes);
    StatusOr<std::unique_ptr<GradientReducer>> device_path =
        GradientReducer::CreateForDevice(comm_.get(), backend_.get(), kNumFloats, bucket_bytes);
    ASSERT_TRUE(device_path.ok()) << device_path.status();
    ASSERT_EQ((*device_path)->buckets(), host_path.buckets());

    std::vector<float> expected = Gradients();
    double host_loss = 0.3 * (rank_ + 1);
    int64_t host_examples = 32 + rank_;
    int64_t host_correct = 7 * rank_;
    ASSERT_TRUE(
        host_path.AllReduce(expected.data(), &host_loss, &host_examples, &host_correct).ok());

    DeviceBuffer device = ToDevice(Gradients());
    double loss = 0.3 * (rank_ + 1);
    int64_t examples = 32 + rank_;
    int64_t correct = 7 * rank_;
    Status status = (*device_path)->AllReduce(device.floats(), &loss, &examples, &correct);
    ASSERT_TRUE(status.ok()) << status;
    std::vector<float> out = ToHost(device);
    ASSERT_EQ(std::memcmp(out.data(), expected.data(), kNumFloats * 4), 0);
    EXPECT_EQ(loss, host_loss);
    EXPECT_EQ(examples, host_examples);
    EXPECT_EQ(correct, host_correct);
    EXPECT_EQ(examples, 32 * world_ + int64_t{world_} * (world_ - 1) / 2);
  }
}

TEST_F(DeviceGradientReducerMpiTest, SmallIntegersSumToTheClosedFormOverManySteps) {
  StatusOr<std::unique_ptr<GradientReducer>> reducer =
      GradientReducer::CreateForDevice(comm_.get(), backend_.get(), kNumFloats, 4096);
  ASSERT_TRUE(reducer.ok()) << reducer.status();
  std::vector<float> grads(kNumFloats);
  for (int64_t i = 0; i < kNumFloats; ++i) grads[i] = float((rank_ + 1) * (i % 97 - 48));
  const int64_t rank_sum = int64_t{world_} * (world_ + 1) / 2;
  for (int step = 0; step < 3; ++step) {  // staging and events reused
    DeviceBuffer device = ToDevice(grads);
    ASSERT_TRUE((*reducer)->AllReduce(device.floats(), nullptr, nullptr, nullptr).ok());
    std::vector<float> out = ToHost(device);
    for (int64_t i = 0; i < kNumFloats; ++i) {
      ASSERT_EQ(out[i], float(rank_sum * (i % 97 - 48))) << "step " << step << " element " << i;
    }
  }
}

}  // namespace
}  // namespace shardtrain::comm
