// The memory section of KernelBackend on the CPU backend (kernels/backend.h,
// kernels/device_buffer.h): allocation, copies in every direction, empty and
// moved handles, events and synchronization, allocation errors naming the
// buffer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"

namespace shardtrain::kernels {
namespace {

class DeviceMemoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<KernelBackend> backend_ = CreateCpuBackend();
};

TEST_F(DeviceMemoryTest, CopiesRoundTripThroughDeviceAndPinnedMemory) {
  std::vector<float> values(1000);
  std::iota(values.begin(), values.end(), -3.5f);
  const int64_t bytes = static_cast<int64_t>(values.size() * sizeof(float));
  auto pinned = backend_->AllocatePinned(bytes, "staging");
  auto first = backend_->AllocateDevice(bytes, "first");
  auto second = backend_->AllocateDevice(bytes, "second");
  ASSERT_TRUE(pinned.ok() && first.ok() && second.ok());
  EXPECT_EQ(first->bytes(), bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first->data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pinned->data()) % 64, 0u);
  std::copy(values.begin(), values.end(), pinned->floats());

  backend_->CopyToDevice(first->data(), pinned->data(), bytes, Stream::kCopy);
  backend_->CopyOnDevice(second->data(), first->data(), bytes);
  std::vector<float> back(values.size());
  backend_->CopyToHost(back.data(), second->data(), bytes, Stream::kCommunication);
  ASSERT_TRUE(backend_->Synchronize().ok());
  EXPECT_EQ(back, values);
  // Device memory is host memory on the CPU backend.
  EXPECT_TRUE(backend_->host_reads_device_memory());
  EXPECT_EQ(second->floats()[999], values[999]);
}

TEST_F(DeviceMemoryTest, OpsRunOnDeviceBuffers) {
  auto x = backend_->AllocateDevice(4 * sizeof(float), "x");
  ASSERT_TRUE(x.ok());
  backend_->Fill(x->floats(), 2.5f, 4);
  backend_->Add(x->floats(), x->floats(), x->floats(), 4);
  float host[4] = {};
  backend_->CopyToHost(host, x->data(), sizeof(host));
  ASSERT_TRUE(backend_->Synchronize().ok());
  for (float value : host) EXPECT_EQ(value, 5.0f);
}

TEST_F(DeviceMemoryTest, ZeroBytesGiveEmptyHandles) {
  auto device = backend_->AllocateDevice(0, "nothing");
  auto pinned = backend_->AllocatePinned(0, "nothing");
  ASSERT_TRUE(device.ok() && pinned.ok());
  EXPECT_TRUE(device->empty());
  EXPECT_EQ(device->data(), nullptr);
  EXPECT_EQ(device->bytes(), 0);
  EXPECT_TRUE(pinned->empty());
  // Zero-byte copies of empty handles are no-ops.
  backend_->CopyToDevice(device->data(), pinned->data(), 0);
  backend_->CopyToHost(pinned->data(), device->data(), 0);
  EXPECT_TRUE(backend_->Synchronize().ok());
  EXPECT_TRUE(DeviceBuffer().empty());
  EXPECT_TRUE(Event().empty());
}

TEST_F(DeviceMemoryTest, MovesTransferOwnership) {
  auto made = backend_->AllocateDevice(256, "moved");
  ASSERT_TRUE(made.ok());
  void* data = made->data();
  DeviceBuffer a = std::move(*made);
  EXPECT_TRUE(made->empty());
  EXPECT_EQ(a.data(), data);
  DeviceBuffer b;
  b = std::move(a);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.bytes(), 0);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.bytes(), 256);
  // Move-assigning over a live buffer releases the old one (LeakSanitizer checks it).
  auto other = backend_->AllocateDevice(64, "replaced");
  ASSERT_TRUE(other.ok());
  b = std::move(*other);
  EXPECT_EQ(b.bytes(), 64);
  b.reset();
  EXPECT_TRUE(b.empty());
}

TEST_F(DeviceMemoryTest, EventsAreCompleteAtOnce) {
  auto event = backend_->CreateEvent();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_FALSE(event->empty());
  backend_->RecordEvent(*event, Stream::kCopy);
  backend_->StreamWaitEvent(Stream::kCompute, *event);
  EXPECT_TRUE(backend_->WaitEvent(*event).ok());
  Event moved = std::move(*event);
  EXPECT_TRUE(event->empty());
  EXPECT_FALSE(moved.empty());
  EXPECT_TRUE(backend_->CheckErrors().ok());
}

TEST_F(DeviceMemoryTest, AbsurdSizesAreResourceExhaustedNamingTheBuffer) {
  const int64_t absurd = int64_t{1} << 62;
  auto device = backend_->AllocateDevice(absurd, "activation of conv2d_1");
  EXPECT_EQ(device.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(device.status().message(), "out of device memory allocating activation of conv2d_1 (" +
                                           std::to_string(absurd) + " bytes)");
  auto pinned = backend_->AllocatePinned(absurd, "staging");
  EXPECT_EQ(pinned.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(pinned.status().message().find("pinned host memory allocating staging"),
            std::string::npos)
      << pinned.status();
  auto negative = backend_->AllocateDevice(-1, "parameters");
  EXPECT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find("parameters"), std::string::npos);
}

}  // namespace
}  // namespace shardtrain::kernels
