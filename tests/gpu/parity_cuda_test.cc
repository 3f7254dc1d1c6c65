// The parity table (tests/kernels/parity_cases.h) on CUDA: every case within
// its tolerance of the CPU backend (bit for bit where the case says 0), data
// moved through the memory API only. Skips without a device (CudaTest); the
// table's completeness is checked by parity_strict_test, which runs in CI.
#include <gtest/gtest.h>

#include "tests/gpu/cuda_test_util.h"
#include "tests/kernels/parity_cases.h"

namespace shardtrain::kernels::testing {
namespace {

class CudaParityTest : public CudaTest, public ::testing::WithParamInterface<ParityCase> {};

TEST_P(CudaParityTest, WithinToleranceOfTheCpu) {
  ExpectParity(GetParam(), *cpu_, *gpu_, /*bitwise=*/false);
}

INSTANTIATE_TEST_SUITE_P(Table, CudaParityTest, ::testing::ValuesIn(ParityCases()),
                         [](const ::testing::TestParamInfo<ParityCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace shardtrain::kernels::testing
