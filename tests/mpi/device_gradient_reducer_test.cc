// GradientReducer over device gradients without mpirun: the staged path on
// the strict emulated device (whose memory the host cannot touch: a host read
// would crash the test) with the local and recording host communicators, the
// zero-copy path on the CPU backend, the device-communicator path, and errors
// naming the bucket. The strict device checks the event protocol: a wait on an
// event never recorded would come back from Synchronize as FailedPrecondition.
// The deferred-streams backend runs each stream's work as late as a device may,
// so a missing event wait between streams shows as stale gradients.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "tests/mpi/deferred_streams_backend.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/comm/local_communicator.h"

namespace shardtrain::comm {
namespace {

using kernels::DeviceBuffer;
using kernels::KernelBackend;
using kernels::Stream;

constexpr int64_t kNumFloats = 1000;
constexpr int64_t kBucketBytes = 256;  // 64 floats: 15 full buckets and one of 40

// Non-integer values, so a sum would change their bits.
std::vector<float> Gradients(int64_t n) {
  std::vector<float> grads(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) grads[i] = 0.1f * float(i % 89) - 3.3f + 1e-3f * float(i);
  return grads;
}

// A host communicator that sums as if `ranks` ranks held the same values
// ((x + x) + x ...), reading and writing the buffer it is given (a strict
// device buffer would crash it) and recording each call.
class RecordingCommunicator final : public Communicator {
 public:
  explicit RecordingCommunicator(int ranks, bool device = false, int fail_call = -1)
      : ranks_(ranks), device_(device), fail_call_(fail_call) {}
  int rank() const override { return 0; }
  int world_size() const override { return ranks_; }
  std::string_view name() const override { return device_ ? "device-fake" : "host-fake"; }
  bool sums_device_memory() const override { return device_; }
  Status AllReduceSum(void* data, int64_t count, DType dtype) override {
    RETURN_IF_ERROR(ValidateAllReduceArgs(data, count, dtype));
    if (static_cast<int>(calls.size()) == fail_call_) return UnavailableError("peer 1 is gone");
    calls.push_back({data, count});
    if (on_call) on_call();
    if ((device_ && !device_memory_is_host_memory) || dtype != DType::kFloat32) return OkStatus();
    float* values = static_cast<float*>(data);
    for (int64_t i = 0; i < count; ++i) values[i] = RankSum(values[i]);
    return OkStatus();
  }
  Status Broadcast(void*, int64_t, int) override { return OkStatus(); }
  Status Barrier() override { return OkStatus(); }
  Status AllReduceSumHostScalars(double* values, int count) override {
    for (int i = 0; i < count; ++i) values[i] *= ranks_;
    return OkStatus();
  }
  float RankSum(float x) const {
    float sum = x;
    for (int r = 1; r < ranks_; ++r) sum += x;
    return sum;
  }

  struct Call {
    void* data;
    int64_t count;
  };
  std::vector<Call> calls;
  std::function<void()> on_call;  // run at each AllReduceSum
  // Device mode sums too (the deferred backend's device memory is host memory).
  bool device_memory_is_host_memory = false;

 private:
  int ranks_;
  bool device_;
  int fail_call_;
};

class DeviceGradientReducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = kernels::CreateStrictDeviceBackend();
    StatusOr<DeviceBuffer> buffer = backend_->AllocateDevice(kNumFloats * 4, "gradients");
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    device_ = std::move(buffer).value();
    host_ = Gradients(kNumFloats);
    // The "backward": gradients written on the compute stream.
    backend_->CopyToDevice(device_.data(), host_.data(), kNumFloats * 4, Stream::kCompute);
  }
  // The reduced gradients as the optimizer would see them: read on kCompute.
  std::vector<float> ReadBack() {
    std::vector<float> out(kNumFloats);
    backend_->CopyToHost(out.data(), device_.data(), kNumFloats * 4, Stream::kCompute);
    Status status = backend_->Synchronize();
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }
  std::unique_ptr<GradientReducer> Reducer(Communicator* comm, KernelBackend* backend) {
    StatusOr<std::unique_ptr<GradientReducer>> reducer =
        GradientReducer::CreateForDevice(comm, backend, kNumFloats, kBucketBytes);
    EXPECT_TRUE(reducer.ok()) << reducer.status();
    return reducer.ok() ? std::move(reducer).value() : nullptr;
  }

  std::unique_ptr<KernelBackend> backend_;
  DeviceBuffer device_;
  std::vector<float> host_;
};

// One rank: the local communicator, which touches no buffer (no staging), and
// a host communicator of one rank (staged): both are the identity.
TEST_F(DeviceGradientReducerTest, OneRankIsTheIdentityBitForBit) {
  LocalCommunicator local;
  RecordingCommunicator staged(/*ranks=*/1);
  for (Communicator* comm : std::vector<Communicator*>{&local, &staged}) {
    SCOPED_TRACE(comm->name());
    std::unique_ptr<GradientReducer> reducer = Reducer(comm, backend_.get());
    ASSERT_NE(reducer, nullptr);
    ASSERT_EQ(reducer->buckets().size(), 16u);
    EXPECT_EQ(reducer->buckets().back().count, 40);
    double loss = 1.25;
    int64_t examples = 7;
    int64_t correct = 3;
    for (int step = 0; step < 3; ++step) {  // the staging and events are reused
      Status status = reducer->AllReduce(device_.floats(), &loss, &examples, &correct);
      ASSERT_TRUE(status.ok()) << status;
    }
    std::vector<float> out = ReadBack();
    EXPECT_EQ(std::memcmp(out.data(), host_.data(), kNumFloats * 4), 0);
    EXPECT_EQ(loss, 1.25);
    EXPECT_EQ(examples, 7);
    EXPECT_EQ(correct, 3);
    EXPECT_TRUE(backend_->CheckErrors().ok());
  }
  EXPECT_EQ(staged.calls.size(), 3 * 16u);
}

TEST_F(DeviceGradientReducerTest, EachBucketIsStagedOnTheHostSummedAndCopiedBack) {
  RecordingCommunicator comm(/*ranks=*/3);
  std::unique_ptr<GradientReducer> reducer = Reducer(&comm, backend_.get());
  ASSERT_NE(reducer, nullptr);
  double loss = 0.5;
  int64_t examples = 4;
  ASSERT_TRUE(reducer->AllReduce(device_.floats(), &loss, &examples, nullptr).ok());
  std::vector<float> out = ReadBack();
  for (int64_t i = 0; i < kNumFloats; ++i) {
    ASSERT_EQ(out[i], comm.RankSum(host_[i])) << "element " << i;
  }
  EXPECT_EQ(loss, 1.5);
  EXPECT_EQ(examples, 12);
  // One call per bucket, in order, each on host staging memory (two buffers
  // used in turn), never on the device buffer.
  ASSERT_EQ(comm.calls.size(), reducer->buckets().size());
  for (size_t k = 0; k < comm.calls.size(); ++k) {
    EXPECT_EQ(comm.calls[k].count, reducer->buckets()[k].count) << "bucket " << k;
    EXPECT_EQ(comm.calls[k].data, comm.calls[k % 2].data) << "bucket " << k;
    const char* data = static_cast<const char*>(comm.calls[k].data);
    const char* device = static_cast<const char*>(device_.data());
    EXPECT_TRUE(data < device || data >= device + kNumFloats * 4) << "bucket " << k;
  }
  EXPECT_NE(comm.calls[0].data, comm.calls[1].data);
}

TEST_F(DeviceGradientReducerTest, CpuBackendSumsInPlaceWithoutStaging) {
  std::unique_ptr<KernelBackend> cpu = kernels::CreateCpuBackend();
  RecordingCommunicator comm(/*ranks=*/2);
  std::unique_ptr<GradientReducer> reducer = Reducer(&comm, cpu.get());
  ASSERT_NE(reducer, nullptr);
  std::vector<float> grads = host_;
  ASSERT_TRUE(reducer->AllReduce(grads.data(), nullptr, nullptr, nullptr).ok());
  ASSERT_EQ(comm.calls.size(), reducer->buckets().size());
  for (size_t k = 0; k < comm.calls.size(); ++k) {
    EXPECT_EQ(comm.calls[k].data, grads.data() + reducer->buckets()[k].offset) << "bucket " << k;
  }
  for (int64_t i = 0; i < kNumFloats; ++i) ASSERT_EQ(grads[i], comm.RankSum(host_[i]));
}

TEST_F(DeviceGradientReducerTest, DeviceCommunicatorGetsTheDeviceBucketsAfterTheBackward) {
  RecordingCommunicator comm(/*ranks=*/2, /*device=*/true);
  std::unique_ptr<GradientReducer> reducer = Reducer(&comm, backend_.get());
  ASSERT_NE(reducer, nullptr);
  ASSERT_TRUE(reducer->AllReduce(device_.floats(), nullptr, nullptr, nullptr).ok());
  ASSERT_EQ(comm.calls.size(), reducer->buckets().size());
  for (size_t k = 0; k < comm.calls.size(); ++k) {
    EXPECT_EQ(comm.calls[k].data, device_.floats() + reducer->buckets()[k].offset);
  }
  EXPECT_TRUE(backend_->Synchronize().ok());
}

TEST_F(DeviceGradientReducerTest, CommunicatorFailureNamesTheBucketAndKeepsStreamsOrdered) {
  RecordingCommunicator comm(/*ranks=*/2, /*device=*/false, /*fail_call=*/2);
  std::unique_ptr<GradientReducer> reducer = Reducer(&comm, backend_.get());
  ASSERT_NE(reducer, nullptr);
  Status status = reducer->AllReduce(device_.floats(), nullptr, nullptr, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("gradient bucket 2 of 16"), std::string::npos) << status;
  EXPECT_TRUE(backend_->Synchronize().ok());
}

TEST_F(DeviceGradientReducerTest, HostPointerIsFailedPreconditionNamingTheCopy) {
  RecordingCommunicator comm(/*ranks=*/2);
  std::unique_ptr<GradientReducer> reducer = Reducer(&comm, backend_.get());
  ASSERT_NE(reducer, nullptr);
  std::vector<float> host = host_;
  Status status = reducer->AllReduce(host.data(), nullptr, nullptr, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("gradient bucket 0 of 16"), std::string::npos) << status;
  EXPECT_NE(status.message().find("CopyToHost"), std::string::npos) << status;
}

TEST_F(DeviceGradientReducerTest, NoGradientsStillSumsTheScalars) {
  RecordingCommunicator comm(/*ranks=*/2);
  StatusOr<std::unique_ptr<GradientReducer>> reducer =
      GradientReducer::CreateForDevice(&comm, backend_.get(), 0, kBucketBytes);
  ASSERT_TRUE(reducer.ok()) << reducer.status();
  int64_t correct = 5;
  ASSERT_TRUE((*reducer)->AllReduce(nullptr, nullptr, nullptr, &correct).ok());
  EXPECT_EQ(correct, 10);
  EXPECT_TRUE(comm.calls.empty());
  EXPECT_TRUE(backend_->Synchronize().ok());
}

// The gradients are written on kCompute and read back on kCompute after a
// host wait on kCompute alone: only the reducer's events order them around
// the copies on kCommunication.
std::vector<float> ReducedOnDeferredStreams(RecordingCommunicator& comm,
                                            std::vector<int64_t>* pending_copies) {
  testing::DeferredStreamsBackend backend;
  StatusOr<DeviceBuffer> device = backend.AllocateDevice(kNumFloats * 4, "gradients");
  EXPECT_TRUE(device.ok()) << device.status();
  if (!device.ok()) return {};
  const std::vector<float> host = Gradients(kNumFloats);
  backend.CopyToDevice(device->data(), host.data(), kNumFloats * 4, Stream::kCompute);
  comm.on_call = [&] { pending_copies->push_back(backend.pending(Stream::kCommunication)); };
  StatusOr<std::unique_ptr<GradientReducer>> reducer =
      GradientReducer::CreateForDevice(&comm, &backend, kNumFloats, kBucketBytes);
  EXPECT_TRUE(reducer.ok()) << reducer.status();
  if (!reducer.ok()) return {};
  Status status = (*reducer)->AllReduce(device->floats(), nullptr, nullptr, nullptr);
  EXPECT_TRUE(status.ok()) << status;
  std::vector<float> out(kNumFloats);
  backend.CopyToHost(out.data(), device->data(), kNumFloats * 4, Stream::kCompute);
  StatusOr<kernels::Event> read = backend.CreateEvent();
  EXPECT_TRUE(read.ok()) << read.status();
  if (!read.ok()) return {};
  backend.RecordEvent(*read, Stream::kCompute);
  status = backend.WaitEvent(*read);
  EXPECT_TRUE(status.ok()) << status;
  comm.on_call = nullptr;
  return out;
}

TEST(DeviceGradientReducerOrderTest, EventsOrderTheCopiesAroundTheBackwardAndTheUpdate) {
  RecordingCommunicator comm(/*ranks=*/3);
  std::vector<int64_t> pending_copies;
  std::vector<float> out = ReducedOnDeferredStreams(comm, &pending_copies);
  ASSERT_EQ(out.size(), size_t{kNumFloats});
  const std::vector<float> host = Gradients(kNumFloats);
  for (int64_t i = 0; i < kNumFloats; ++i) ASSERT_EQ(out[i], comm.RankSum(host[i])) << i;
  // While the host sums bucket k, bucket k + 1's copy is still queued.
  ASSERT_EQ(pending_copies.size(), 16u);
  for (size_t k = 0; k + 1 < pending_copies.size(); ++k) {
    EXPECT_GT(pending_copies[k], 0) << "bucket " << k;
  }
}

TEST(DeviceGradientReducerOrderTest, DeviceCommunicatorRunsAfterTheBackward) {
  RecordingCommunicator comm(/*ranks=*/2, /*device=*/true);
  comm.device_memory_is_host_memory = true;
  std::vector<int64_t> pending_copies;
  std::vector<float> out = ReducedOnDeferredStreams(comm, &pending_copies);
  ASSERT_EQ(out.size(), size_t{kNumFloats});
  const std::vector<float> host = Gradients(kNumFloats);
  for (int64_t i = 0; i < kNumFloats; ++i) ASSERT_EQ(out[i], comm.RankSum(host[i])) << i;
}

TEST(DeviceGradientReducerOrderTest, LocalCommunicatorNeedsNoCopiesOrEvents) {
  testing::DeferredStreamsBackend backend;
  StatusOr<DeviceBuffer> device = backend.AllocateDevice(kNumFloats * 4, "gradients");
  ASSERT_TRUE(device.ok()) << device.status();
  LocalCommunicator comm;
  StatusOr<std::unique_ptr<GradientReducer>> reducer =
      GradientReducer::CreateForDevice(&comm, &backend, kNumFloats, kBucketBytes);
  ASSERT_TRUE(reducer.ok()) << reducer.status();
  ASSERT_TRUE((*reducer)->AllReduce(device->floats(), nullptr, nullptr, nullptr).ok());
  for (Stream stream : {Stream::kCompute, Stream::kCopy, Stream::kCommunication}) {
    EXPECT_EQ(backend.pending(stream), 0);
  }
}

TEST(DeviceGradientReducerCreateTest, NullBackendIsInvalidArgument) {
  LocalCommunicator comm;
  EXPECT_EQ(GradientReducer::CreateForDevice(&comm, nullptr, 10).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shardtrain::comm
