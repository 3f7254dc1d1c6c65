// The strict emulated device (kernels/strict/strict_device_backend.h): host
// access to device memory faults, host pointers given to ops and copies are
// FailedPrecondition naming the op and argument (the op skipped), copies round
// trip, events are checked, and ops give the CPU backend's bits.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/strict/strict_device_backend.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels {
namespace {

using testing::RandomVector;

class StrictDeviceTest : public ::testing::Test {
 protected:
  // A device buffer holding `values`.
  DeviceBuffer Upload(const std::vector<float>& values, const char* what) {
    const int64_t bytes = static_cast<int64_t>(values.size() * sizeof(float));
    auto buffer = device_->AllocateDevice(bytes, what);
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    if (!buffer.ok()) return DeviceBuffer();
    device_->CopyToDevice(buffer->data(), values.data(), bytes);
    return std::move(*buffer);
  }
  std::vector<float> Download(const DeviceBuffer& buffer) {
    std::vector<float> values(static_cast<size_t>(buffer.bytes()) / sizeof(float));
    device_->CopyToHost(values.data(), buffer.data(), buffer.bytes());
    Status status = device_->Synchronize();
    EXPECT_TRUE(status.ok()) << status;
    return values;
  }

  std::unique_ptr<KernelBackend> device_ = CreateStrictDeviceBackend();
  std::unique_ptr<KernelBackend> cpu_ = CreateCpuBackend();
};

// Bit-for-bit equality of two float vectors.
void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST_F(StrictDeviceTest, IdentifiesItself) {
  EXPECT_EQ(device_->name(), "strict");
  EXPECT_EQ(device_->device(), Device::kCpu);
  EXPECT_FALSE(device_->host_reads_device_memory());
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
constexpr bool kSanitized = __has_feature(address_sanitizer) || __has_feature(thread_sanitizer);
#else
constexpr bool kSanitized = false;
#endif

// How a host access to device memory ends the process: SIGSEGV, which ASan
// and TSan catch and turn into a report and a failing exit.
bool DiedOfAFault(int status) {
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) return true;
  return kSanitized && WIFEXITED(status) && WEXITSTATUS(status) != 0;
}

using StrictDeviceDeathTest = StrictDeviceTest;

TEST_F(StrictDeviceDeathTest, HostReadOfDeviceMemoryFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer x = Upload({1.0f, 2.0f, 3.0f}, "x");
  device_->Fill(x.floats(), 4.0f, 3);  // opened and protected again around the op
  ASSERT_TRUE(device_->Synchronize().ok());
  EXPECT_EXIT(
      {
        volatile float value = x.floats()[1];
        (void)value;
      },
      DiedOfAFault, "");
}

TEST_F(StrictDeviceDeathTest, HostWriteOfDeviceMemoryFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer x = Upload({1.0f, 2.0f}, "x");
  EXPECT_EXIT({ *static_cast<volatile float*>(x.floats()) = 5.0f; }, DiedOfAFault, "");
}

TEST_F(StrictDeviceDeathTest, AnOpWritingOneFloatPastItsBufferFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer x = Upload(std::vector<float>(64, 1.0f), "x");  // ends at the guard page
  EXPECT_EXIT(device_->Fill(x.floats(), 0.0f, 64 + 1), DiedOfAFault, "");
}

TEST_F(StrictDeviceDeathTest, AnOpReadingBeforeItsPagesFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer x = Upload(std::vector<float>(1024, 1.0f), "x");  // one whole page
  DeviceBuffer y = Upload({0.0f, 0.0f}, "y");
  // Reads x[-1, 1): x[-1] is in the guard page before x.
  EXPECT_EXIT(device_->CopyColumnsFrom(x.floats(), 1, 1024, -1, y.floats(), 2), DiedOfAFault, "");
}

// A 3-float buffer ends 4 bytes before its guard page: writing x[3] changes
// the slack, caught when the op closes its buffers.
TEST_F(StrictDeviceTest, AnOpWritingOneFloatPastAnUnalignedBufferIsCaught) {
  DeviceBuffer x = Upload({1.0f, 2.0f, 3.0f}, "x");
  device_->Fill(x.floats(), 7.0f, 4);
  Status status = device_->CheckErrors();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "Fill wrote outside device allocation x (12 bytes)");
  EXPECT_EQ(Download(x), (std::vector<float>{7.0f, 7.0f, 7.0f}));
  device_->Fill(x.floats(), 8.0f, 3);  // the slack was restored: no second report
  EXPECT_TRUE(device_->CheckErrors().ok());
}

TEST_F(StrictDeviceTest, AnOpWritingBeforeItsBufferIsCaught) {
  DeviceBuffer x = Upload({1.0f, 2.0f, 3.0f}, "x");
  DeviceBuffer src = Upload({9.0f}, "src");
  // Column -1 of a (1, 3) dst is the float before x.
  device_->CopyColumnsInto(src.floats(), 1, 1, x.floats(), 3, -1);
  Status status = device_->CheckErrors();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "CopyColumnsInto wrote outside device allocation x (12 bytes)");
  EXPECT_EQ(Download(x), (std::vector<float>{1.0f, 2.0f, 3.0f}));
}

TEST_F(StrictDeviceTest, DeviceMemoryIsSixteenByteAligned) {
  for (int64_t bytes : {1, 12, 16, 100, 4096, 5000}) {
    auto buffer = device_->AllocateDevice(bytes, "b");
    ASSERT_TRUE(buffer.ok());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % 16, 0u) << bytes;
  }
}

TEST_F(StrictDeviceTest, HostPointerGivenToAnOpIsFailedPreconditionAndSkipsTheOp) {
  DeviceBuffer x = Upload({1.0f, 2.0f}, "x");
  std::vector<float> host = {7.0f, 8.0f};
  device_->Add(x.floats(), host.data(), x.floats(), 2);
  Status status = device_->Synchronize();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "Add: argument b is not device memory");
  EXPECT_EQ(Download(x), (std::vector<float>{1.0f, 2.0f}));  // not run
  EXPECT_TRUE(device_->CheckErrors().ok());                  // read once

  device_->Fill(host.data(), 0.0f, 2);
  EXPECT_EQ(device_->CheckErrors().message(), "Fill: argument x is not device memory");
  EXPECT_EQ(host, (std::vector<float>{7.0f, 8.0f}));
}

TEST_F(StrictDeviceTest, NullRequiredArgumentIsFailedPreconditionAndSkipsTheOp) {
  DeviceBuffer x = Upload({1.0f, 2.0f}, "x");
  device_->Add(x.floats(), nullptr, x.floats(), 2);
  Status status = device_->CheckErrors();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "Add: argument b is null");
  device_->SgdUpdate(SgdParams{}, nullptr, x.floats(), nullptr, 2);
  EXPECT_EQ(device_->CheckErrors().message(), "SgdUpdate: argument weights is null");
  EXPECT_EQ(Download(x), (std::vector<float>{1.0f, 2.0f}));  // neither ran
}

// The arguments backend.h lets be null: Dense's bias and dx/db, SGD's velocity.
TEST_F(StrictDeviceTest, OptionalArgumentsMayBeNull) {
  DeviceBuffer x = Upload({1.0f, 2.0f}, "x"), w = Upload({3.0f}, "w"), y = Upload({0, 0}, "y");
  device_->DenseForward(x.floats(), w.floats(), nullptr, y.floats(), 2, 1, 1);
  EXPECT_EQ(Download(y), (std::vector<float>{3.0f, 6.0f}));
  DeviceBuffer dw = Upload({0.0f}, "dw");
  device_->DenseBackward(x.floats(), w.floats(), y.floats(), nullptr, dw.floats(), nullptr, 2, 1,
                         1);
  EXPECT_EQ(Download(dw), (std::vector<float>{15.0f}));  // 1*3 + 2*6
  SgdParams sgd;
  sgd.learning_rate = 0.5f;
  device_->SgdUpdate(sgd, w.floats(), dw.floats(), nullptr, 1);
  EXPECT_EQ(Download(w), (std::vector<float>{3.0f - 7.5f}));
  EXPECT_TRUE(device_->CheckErrors().ok());
}

TEST_F(StrictDeviceTest, CopiesRoundTripAndCheckBothSides) {
  const std::vector<float> values = RandomVector(300, 1);
  DeviceBuffer a = Upload(values, "a");
  auto b = device_->AllocateDevice(a.bytes(), "b");
  ASSERT_TRUE(b.ok());
  device_->CopyOnDevice(b->data(), a.data(), a.bytes(), Stream::kCopy);
  ExpectSameBits(Download(*b), values);

  std::vector<float> host(300);
  device_->CopyToDevice(host.data(), values.data(), 4);
  EXPECT_EQ(device_->CheckErrors().message(),
            "CopyToDevice: argument device_dst is not device memory");
  device_->CopyToHost(a.data(), b->data(), 4);
  EXPECT_EQ(device_->CheckErrors().message(),
            "CopyToHost: argument host_dst is device memory (a), not host memory");
  device_->CopyOnDevice(b->floats() + 100, a.data(), a.bytes());
  Status overrun = device_->CheckErrors();
  EXPECT_EQ(overrun.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(overrun.message(),
            "CopyOnDevice: argument device_dst: 1200 bytes at offset 400 "
            "overrun device allocation b (1200 bytes)");
  ExpectSameBits(Download(*b), values);  // untouched by the refused copies
}

TEST_F(StrictDeviceTest, PinnedMemoryIsHostMemory) {
  auto pinned = device_->AllocatePinned(16, "staging");
  ASSERT_TRUE(pinned.ok());
  pinned->floats()[3] = 9.0f;  // the host may touch it
  DeviceBuffer x = Upload({0, 0, 0, 0}, "x");
  device_->CopyToDevice(x.data(), pinned->data(), 16);
  EXPECT_EQ(Download(x)[3], 9.0f);
}

TEST_F(StrictDeviceTest, OpsGiveTheCpuBits) {
  const int64_t batch = 5, in = 7, out = 3;
  const std::vector<float> x = RandomVector(batch * in, 2), w = RandomVector(in * out, 3);
  const std::vector<float> b = RandomVector(out, 4);
  std::vector<float> y(batch * out);
  cpu_->DenseForward(x.data(), w.data(), b.data(), y.data(), batch, in, out);
  cpu_->ActivationForward(Activation::kGelu, y.data(), y.data(), batch, out);
  const std::vector<int32_t> labels = {0, 2, 1, 1, 0};
  std::vector<float> dlogits(batch * out);
  cpu_->SparseSoftmaxCrossEntropyBackward(y.data(), labels.data(), 0.2f, dlogits.data(), batch,
                                          out);
  const int64_t correct = cpu_->SparseAccuracyCount(y.data(), labels.data(), batch, out);

  DeviceBuffer dx = Upload(x, "x"), dw = Upload(w, "w"), db = Upload(b, "b");
  DeviceBuffer dy = Upload(y, "y"), dd = Upload(dlogits, "dlogits");
  auto dlabels = device_->AllocateDevice(batch * 4, "labels");
  ASSERT_TRUE(dlabels.ok());
  device_->CopyToDevice(dlabels->data(), labels.data(), batch * 4);
  device_->Fill(dy.floats(), 0.0f, batch * out);
  device_->Fill(dd.floats(), 0.0f, batch * out);
  device_->DenseForward(dx.floats(), dw.floats(), db.floats(), dy.floats(), batch, in, out);
  device_->ActivationForward(Activation::kGelu, dy.floats(), dy.floats(), batch, out);
  device_->SparseSoftmaxCrossEntropyBackward(dy.floats(), dlabels->as<int32_t>(), 0.2f, dd.floats(),
                                             batch, out);
  EXPECT_EQ(device_->SparseAccuracyCount(dy.floats(), dlabels->as<int32_t>(), batch, out), correct);
  ExpectSameBits(Download(dy), y);
  ExpectSameBits(Download(dd), dlogits);
}

TEST_F(StrictDeviceTest, Conv2DWithHostScratchGivesTheCpuBits) {
  Conv2DGeometry g;
  g.batch = 2, g.in_h = 5, g.in_w = 4, g.in_c = 3, g.out_c = 2, g.window_h = 3, g.window_w = 2;
  ASSERT_TRUE(WindowGeometry(/*same_padding=*/true, &g));
  const std::vector<float> x = RandomVector(g.batch * g.in_h * g.in_w * g.in_c, 5);
  const std::vector<float> w = RandomVector(g.window_h * g.window_w * g.in_c * g.out_c, 6);
  std::vector<float> y(g.batch * g.out_h * g.out_w * g.out_c);
  cpu_->Conv2DForward(g, x.data(), w.data(), nullptr, y.data());

  DeviceBuffer dx = Upload(x, "x"), dw = Upload(w, "w"), dy = Upload(y, "y");
  device_->Fill(dy.floats(), 0.0f, static_cast<int64_t>(y.size()));
  device_->Conv2DForward(g, dx.floats(), dw.floats(), nullptr, dy.floats());
  ExpectSameBits(Download(dy), y);
}

TEST_F(StrictDeviceTest, PointersInsideAnAllocationAreDeviceMemory) {
  DeviceBuffer x = Upload({1, 2, 3, 4}, "x");
  device_->Fill(x.floats() + 2, 0.5f, 2);
  EXPECT_EQ(Download(x), (std::vector<float>{1, 2, 0.5f, 0.5f}));
  device_->Fill(x.floats() + 4, 0.5f, 0);  // one past the end is outside
  EXPECT_EQ(device_->CheckErrors().code(), StatusCode::kFailedPrecondition);
}

TEST_F(StrictDeviceTest, EventsAreCheckedBookkeeping) {
  auto event = device_->CreateEvent();
  ASSERT_TRUE(event.ok());
  device_->StreamWaitEvent(Stream::kCompute, *event);
  EXPECT_EQ(device_->CheckErrors().message(), "StreamWaitEvent: the event was never recorded");
  Status never = device_->WaitEvent(*event);
  EXPECT_EQ(never.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(never.message(), "WaitEvent: the event was never recorded");

  device_->RecordEvent(*event, Stream::kCopy);
  device_->StreamWaitEvent(Stream::kCompute, *event);
  EXPECT_TRUE(device_->WaitEvent(*event).ok());

  EXPECT_EQ(device_->WaitEvent(Event()).message(), "WaitEvent: the event is empty");
  auto other = CreateStrictDeviceBackend();
  auto foreign = other->CreateEvent();
  ASSERT_TRUE(foreign.ok());
  device_->RecordEvent(*foreign, Stream::kCompute);
  EXPECT_EQ(device_->CheckErrors().message(), "RecordEvent: the event belongs to another backend");
}

// A CPU event's state is a byte, not the strict device's record: the strict
// device refuses it without reading it; the CPU backend accepts any event
// (complete at once) and never reads the strict one's state.
TEST_F(StrictDeviceTest, EventsOfAnotherBackendAreRefusedUnread) {
  auto cpu_event = cpu_->CreateEvent();
  ASSERT_TRUE(cpu_event.ok());
  device_->RecordEvent(*cpu_event, Stream::kCompute);
  EXPECT_EQ(device_->CheckErrors().message(), "RecordEvent: the event belongs to another backend");
  device_->StreamWaitEvent(Stream::kCompute, *cpu_event);
  EXPECT_EQ(device_->CheckErrors().message(),
            "StreamWaitEvent: the event belongs to another backend");
  Status wait = device_->WaitEvent(*cpu_event);
  EXPECT_EQ(wait.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(wait.message(), "WaitEvent: the event belongs to another backend");

  auto strict_event = device_->CreateEvent();
  ASSERT_TRUE(strict_event.ok());
  cpu_->RecordEvent(*strict_event, Stream::kCompute);
  cpu_->StreamWaitEvent(Stream::kCopy, *strict_event);
  EXPECT_TRUE(cpu_->WaitEvent(*strict_event).ok());
  EXPECT_TRUE(cpu_->CheckErrors().ok());
  device_->StreamWaitEvent(Stream::kCompute, *strict_event);  // the CPU did not record it here
  EXPECT_EQ(device_->CheckErrors().message(), "StreamWaitEvent: the event was never recorded");
}

TEST_F(StrictDeviceTest, NegativeCopySizesAreInvalidArgument) {
  DeviceBuffer x = Upload({1.0f, 2.0f}, "x");
  std::vector<float> host(2, 0.0f);
  device_->CopyToHost(host.data(), x.data(), -8);
  Status status = device_->CheckErrors();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "CopyToHost: negative size -8");
  EXPECT_EQ(host, (std::vector<float>{0.0f, 0.0f}));
}

TEST_F(StrictDeviceTest, AllocationErrorsNameTheBuffer) {
  auto absurd = device_->AllocateDevice(int64_t{1} << 62, "parameters");
  EXPECT_EQ(absurd.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(absurd.status().message().find("out of device memory allocating parameters"),
            std::string::npos)
      << absurd.status();
  auto empty = device_->AllocateDevice(0, "nothing");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace shardtrain::kernels
