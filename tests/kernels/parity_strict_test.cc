// The parity table (parity_cases.h) on the strict emulated device: every case
// must give the CPU backend's bits, with the inputs and outputs moved through
// the memory API only, and the table must call every compute method that
// kernels/backend.h declares.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <string>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "tests/kernels/parity_cases.h"

namespace shardtrain::kernels::testing {
namespace {

// kernels/backend.h: in the source tree this binary was built from, else
// (a staged binary on another machine, run from the repository root by
// scripts/gpu-check.sh) relative to the working directory.
std::string BackendHeaderPath() {
  const std::string built_from = std::string(SHARDTRAIN_SOURCE_DIR) + "/kernels/backend.h";
  return std::filesystem::exists(built_from) ? built_from : "kernels/backend.h";
}

TEST(ParityTableTest, CallsEveryComputeMethod) {
  auto declared = ComputeMethodsOf(BackendHeaderPath());
  ASSERT_TRUE(declared.ok()) << declared.status()
                             << " (run from the repository root where the source tree is absent)";
  EXPECT_GE(declared->size(), 37u) << "kernels/backend.h no longer parses as expected";
  const std::set<std::string> called = MethodsTheTableCalls();
  for (const std::string& method : *declared) {
    EXPECT_TRUE(called.count(method)) << "no parity case calls KernelBackend::" << method;
  }
  for (const std::string& method : called) {
    EXPECT_TRUE(declared->count(method)) << method << " is not a compute method of backend.h";
  }
}

// A case whose second run fills `first` + 1 where its first run filled `first`.
ParityCase FillsDifferently(float first, float step) {
  auto runs = std::make_shared<int>(0);
  return {"fills_differently", [=](ParityRun& r) {
            const float value = first + step * static_cast<float>((*runs)++);
            PARITY_OP(r, Fill, r.Out("x", 5, 1e-5), value, 5);
          }};
}

TEST(ParityTableTest, ComparisonCatchesADifference) {
  std::unique_ptr<KernelBackend> a = CreateCpuBackend(), b = CreateCpuBackend();
  EXPECT_NONFATAL_FAILURE(ExpectParity(FillsDifferently(1.0f, 1e-7f), *a, *b, true),
                          "x differs in bits at element 0");
  ExpectParity(FillsDifferently(1.0f, 1e-6f), *a, *b, /*bitwise=*/false);  // within 1e-5
  EXPECT_NONFATAL_FAILURE(ExpectParity(FillsDifferently(1.0f, 1e-4f), *a, *b, false),
                          "RelativeError");
}

class StrictParityTest : public ::testing::TestWithParam<ParityCase> {};

TEST_P(StrictParityTest, BitwiseEqualToTheCpu) {
  std::unique_ptr<KernelBackend> cpu = CreateCpuBackend();
  std::unique_ptr<KernelBackend> device = CreateStrictDeviceBackend();
  ExpectParity(GetParam(), *cpu, *device, /*bitwise=*/true);
}

INSTANTIATE_TEST_SUITE_P(Table, StrictParityTest, ::testing::ValuesIn(ParityCases()),
                         [](const ::testing::TestParamInfo<ParityCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace shardtrain::kernels::testing
