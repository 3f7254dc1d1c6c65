// The optimizer on device memory: Adam, SGD with momentum (plain and
// Nesterov) and RMSprop with momentum, run for several updates on the strict
// emulated device (weights, gradients and slots in memory the host cannot
// touch), equal the CPU backend's weights and slots bit for bit, with no
// misuse recorded. Slots are reached from the host only through
// CopySlotToHost/CopySlotFromHost; host math (clipping, weight decay) is
// refused there by name.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::optimizer {
namespace {

constexpr int64_t kFloats = 23;  // the parameter buffer
constexpr int kSteps = 4;

config::OptimizerConfig Parse(const std::string& text) {
  config::OptimizerConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

// Weights and slots after the updates, copied to the host.
struct State {
  std::vector<float> weights;
  std::vector<std::vector<float>> slots;
};

// Gradients of step `step`: a fixed pattern in [-1.5, 1.5), different per step.
std::vector<float> Gradients(int step) {
  std::vector<float> g(kFloats);
  for (int64_t i = 0; i < kFloats; ++i) {
    g[i] = static_cast<float>((i * 13 + step * 7) % 24) / 8.0f - 1.5f;
  }
  return g;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// kSteps updates of the trainable `spans` of kFloats weights on `backend`,
// every buffer in its device memory.
State Train(kernels::KernelBackend& backend, const std::string& text,
            const std::vector<model::ParameterSpan>& spans) {
  State state;
  auto opt = Optimizer::Create(backend, Parse(text), spans);
  EXPECT_TRUE(opt.ok()) << opt.status().ToString();
  if (!opt.ok()) return state;
  const int64_t bytes = kFloats * static_cast<int64_t>(sizeof(float));
  auto weights = backend.AllocateDevice(bytes, "weights");
  auto grads = backend.AllocateDevice(bytes, "gradients");
  EXPECT_TRUE(weights.ok() && grads.ok());
  if (!weights.ok() || !grads.ok()) return state;
  std::vector<float> initial(kFloats);
  for (int64_t i = 0; i < kFloats; ++i) initial[i] = static_cast<float>(i % 5) * 0.25f - 0.5f;
  backend.CopyToDevice(weights->data(), initial.data(), bytes);
  for (int step = 0; step < kSteps; ++step) {
    const std::vector<float> g = Gradients(step);
    backend.CopyToDevice(grads->data(), g.data(), bytes);
    (*opt)->Apply(backend, weights->floats(), grads->floats());
  }
  state.weights.resize(kFloats);
  backend.CopyToHost(state.weights.data(), weights->data(), bytes);
  EXPECT_TRUE(backend.Synchronize().ok());
  for (size_t s = 0; s < (*opt)->slot_names().size(); ++s) {
    std::vector<float>& slot = state.slots.emplace_back((*opt)->slot_size());
    EXPECT_TRUE((*opt)->CopySlotToHost(s, 0, (*opt)->slot_size(), slot.data()).ok());
  }
  EXPECT_FALSE(SameBits(state.weights, initial)) << text << ": no update";
  return state;
}

void ExpectStrictEqualsCpu(const std::string& text, size_t num_slots,
                           const std::vector<model::ParameterSpan>& spans) {
  std::unique_ptr<kernels::KernelBackend> cpu = kernels::CreateCpuBackend();
  std::unique_ptr<kernels::KernelBackend> strict = kernels::CreateStrictDeviceBackend();
  const State want = Train(*cpu, text, spans);
  const State got = Train(*strict, text, spans);
  EXPECT_TRUE(strict->CheckErrors().ok());
  EXPECT_TRUE(SameBits(got.weights, want.weights)) << text;
  ASSERT_EQ(want.slots.size(), num_slots) << text;
  ASSERT_EQ(got.slots.size(), num_slots) << text;
  for (size_t s = 0; s < num_slots; ++s) {
    EXPECT_TRUE(SameBits(got.slots[s], want.slots[s])) << text << " slot " << s;
  }
}

const std::vector<model::ParameterSpan> kAll = {{0, kFloats}};
// Two trainable variables around a frozen one: slots hold 15 floats.
const std::vector<model::ParameterSpan> kWithFrozen = {{0, 6}, {14, 9}};

TEST(StrictOptimizerTest, AdamEqualsCpu) {
  ExpectStrictEqualsCpu("learning_rate: 0.01 adam { }", 2, kAll);
  ExpectStrictEqualsCpu("learning_rate: 0.01 adam { beta_1: 0.8 }", 2, kWithFrozen);
}

TEST(StrictOptimizerTest, SgdMomentumAndNesterovEqualCpu) {
  ExpectStrictEqualsCpu("learning_rate: 0.1 sgd { momentum: 0.9 }", 1, kAll);
  ExpectStrictEqualsCpu("learning_rate: 0.1 sgd { momentum: 0.9 nesterov: true }", 1, kWithFrozen);
  ExpectStrictEqualsCpu("learning_rate: 0.1 sgd { }", 0, kAll);
}

TEST(StrictOptimizerTest, RmspropWithMomentumEqualsCpu) {
  ExpectStrictEqualsCpu("learning_rate: 0.01 rmsprop { momentum: 0.5 }", 2, kAll);
  ExpectStrictEqualsCpu("learning_rate: 0.01 rmsprop { rho: 0.8 }", 1, kWithFrozen);
}

TEST(StrictOptimizerTest, SlotsMoveOnlyThroughCopies) {
  std::unique_ptr<kernels::KernelBackend> strict = kernels::CreateStrictDeviceBackend();
  auto opt = Optimizer::Create(*strict, Parse("adam { }"), kWithFrozen);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  EXPECT_FALSE((*opt)->slots_host_readable());
  ASSERT_EQ((*opt)->slot_size(), 15);
  const std::vector<float> values = {1.5f, -2.0f, 3.25f};
  ASSERT_TRUE((*opt)->CopySlotFromHost(1, 12, 3, values.data()).ok());
  std::vector<float> back(15, -1.0f);
  ASSERT_TRUE((*opt)->CopySlotToHost(1, 0, 15, back.data()).ok());
  std::vector<float> want(15, 0.0f);  // fresh slots are zero
  std::copy(values.begin(), values.end(), want.begin() + 12);
  EXPECT_EQ(back, want);
  (*opt)->ZeroSlots();
  ASSERT_TRUE((*opt)->CopySlotToHost(1, 12, 3, back.data()).ok());
  EXPECT_EQ(back[0], 0.0f);
  EXPECT_EQ(back[2], 0.0f);
  const Status outside = (*opt)->CopySlotToHost(0, 10, 6, back.data());
  EXPECT_EQ(outside.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(outside.message().find("slot 'm'"), std::string::npos) << outside.ToString();
  EXPECT_TRUE(strict->CheckErrors().ok());
}

TEST(StrictOptimizerTest, HostMathIsRefusedByName) {
  std::unique_ptr<kernels::KernelBackend> strict = kernels::CreateStrictDeviceBackend();
  for (const char* field : {"clipnorm", "clipvalue", "global_clipnorm"}) {
    auto opt = Optimizer::Create(*strict, Parse(std::string("sgd { } ") + field + ": 1"), 4);
    EXPECT_EQ(opt.status().code(), StatusCode::kFailedPrecondition) << field;
    EXPECT_NE(opt.status().message().find(std::string("optimizer.") + field), std::string::npos)
        << opt.status().ToString();
  }
  auto adamw = Optimizer::Create(*strict, Parse("adamw { }"), 4);
  EXPECT_EQ(adamw.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(adamw.status().message().find("optimizer.weight_decay"), std::string::npos)
      << adamw.status().ToString();
  // The CPU backend keeps them (host memory).
  std::unique_ptr<kernels::KernelBackend> cpu = kernels::CreateCpuBackend();
  EXPECT_TRUE(Optimizer::Create(*cpu, Parse("adamw { } clipnorm: 1"), 4).ok());
}

}  // namespace
}  // namespace shardtrain::optimizer
