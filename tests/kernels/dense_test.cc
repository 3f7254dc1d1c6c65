// Dense, BiasAdd and BiasGrad on the CPU backend: exact small products,
// a naive double-precision reference at odd sizes, and finite differences.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels {
namespace {

using testing::ExpectGradientNear;
using testing::NumericGradient;
using testing::RandomVector;
using testing::WeightedSum;

const std::vector<float> kX = {1, 2, 3, 4, 5, 6};  // (2, 3)
const std::vector<float> kW = {1, 2, 3, 4, 5, 6};  // (3, 2)

TEST(DenseTest, ForwardExactWithBias) {
  auto backend = CreateCpuBackend();
  std::vector<float> b = {0.5f, -1.0f};
  std::vector<float> y(4, -99.0f);
  backend->DenseForward(kX.data(), kW.data(), b.data(), y.data(), 2, 3, 2);
  EXPECT_EQ(y, (std::vector<float>{22.5f, 27.0f, 49.5f, 63.0f}));
}

TEST(DenseTest, ForwardExactWithoutBiasOverwritesOutput) {
  auto backend = CreateCpuBackend();
  std::vector<float> y(4, -99.0f);
  backend->DenseForward(kX.data(), kW.data(), nullptr, y.data(), 2, 3, 2);
  EXPECT_EQ(y, (std::vector<float>{22.0f, 28.0f, 49.0f, 64.0f}));
}

TEST(DenseTest, BackwardExact) {
  auto backend = CreateCpuBackend();
  std::vector<float> dy = {1, 2, 3, 4};  // (2, 2)
  std::vector<float> dx(6, -99.0f), dw(6, -99.0f), db(2, -99.0f);
  backend->DenseBackward(kX.data(), kW.data(), dy.data(), dx.data(), dw.data(), db.data(), 2, 3, 2);
  EXPECT_EQ(dw, (std::vector<float>{13, 18, 17, 24, 21, 30}));
  EXPECT_EQ(db, (std::vector<float>{4, 6}));
  EXPECT_EQ(dx, (std::vector<float>{5, 11, 17, 11, 25, 39}));
}

TEST(DenseTest, BackwardWithoutDxAndDb) {
  auto backend = CreateCpuBackend();
  std::vector<float> dy = {1, 2, 3, 4};
  std::vector<float> dw(6, -99.0f);
  backend->DenseBackward(kX.data(), kW.data(), dy.data(), nullptr, dw.data(), nullptr, 2, 3, 2);
  EXPECT_EQ(dw, (std::vector<float>{13, 18, 17, 24, 21, 30}));
}

TEST(DenseTest, MatchesNaiveReferenceAtOddSizes) {
  // Every product here has > 1M multiply-adds, so it is split over threads:
  // forward and dx by output columns, dw (in > out) by output rows.
  const int64_t batch = 19, in = 601, out = 257;
  auto backend = CreateCpuBackend();
  auto x = RandomVector(batch * in, 1);
  auto w = RandomVector(in * out, 2);
  auto b = RandomVector(out, 3);
  auto dy = RandomVector(batch * out, 4);
  std::vector<float> y(batch * out), dx(batch * in), dw(in * out), db(out);
  backend->DenseForward(x.data(), w.data(), b.data(), y.data(), batch, in, out);
  backend->DenseBackward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), batch, in,
                         out);
  for (int64_t r = 0; r < batch; ++r) {
    for (int64_t c = 0; c < out; ++c) {
      double ref = b[c];
      for (int64_t k = 0; k < in; ++k) ref += static_cast<double>(x[r * in + k]) * w[k * out + c];
      ASSERT_NEAR(y[r * out + c], ref, 1e-4) << r << "," << c;
    }
    for (int64_t k = 0; k < in; ++k) {
      double ref = 0.0;
      for (int64_t c = 0; c < out; ++c)
        ref += static_cast<double>(dy[r * out + c]) * w[k * out + c];
      ASSERT_NEAR(dx[r * in + k], ref, 1e-4) << r << "," << k;
    }
  }
  for (int64_t k = 0; k < in; ++k) {
    for (int64_t c = 0; c < out; ++c) {
      double ref = 0.0;
      for (int64_t r = 0; r < batch; ++r)
        ref += static_cast<double>(x[r * in + k]) * dy[r * out + c];
      ASSERT_NEAR(dw[k * out + c], ref, 1e-4) << k << "," << c;
    }
  }
  for (int64_t c = 0; c < out; ++c) {
    double ref = 0.0;
    for (int64_t r = 0; r < batch; ++r) ref += dy[r * out + c];
    ASSERT_NEAR(db[c], ref, 1e-5);
  }
}

TEST(DenseTest, BackwardMatchesFiniteDifferences) {
  const int64_t batch = 3, in = 5, out = 4;
  auto backend = CreateCpuBackend();
  auto x = RandomVector(batch * in, 11);
  auto w = RandomVector(in * out, 12);
  auto b = RandomVector(out, 13);
  const auto r = RandomVector(batch * out, 14);
  std::vector<float> y(batch * out);
  auto objective = [&] {
    backend->DenseForward(x.data(), w.data(), b.data(), y.data(), batch, in, out);
    return WeightedSum(r, y);
  };
  std::vector<float> dx(batch * in), dw(in * out), db(out);
  backend->DenseBackward(x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data(), batch, in,
                         out);
  ExpectGradientNear(dx, NumericGradient(x, objective));
  ExpectGradientNear(dw, NumericGradient(w, objective));
  ExpectGradientNear(db, NumericGradient(b, objective));
}

TEST(DenseTest, EmptyBatchZeroesGradients) {
  auto backend = CreateCpuBackend();
  std::vector<float> dw(6, -1.0f), db(2, -1.0f);
  backend->DenseBackward(nullptr, kW.data(), nullptr, nullptr, dw.data(), db.data(), 0, 3, 2);
  EXPECT_EQ(dw, std::vector<float>(6, 0.0f));
  EXPECT_EQ(db, std::vector<float>(2, 0.0f));
}

TEST(BiasTest, BiasAddAndGradExact) {
  auto backend = CreateCpuBackend();
  std::vector<float> y = {1, 2, 3, 4, 5, 6};  // (3, 2)
  std::vector<float> b = {10, 20};
  backend->BiasAdd(y.data(), b.data(), 3, 2);
  EXPECT_EQ(y, (std::vector<float>{11, 22, 13, 24, 15, 26}));
  std::vector<float> db(2, -1.0f);
  backend->BiasGrad(y.data(), db.data(), 3, 2);
  EXPECT_EQ(db, (std::vector<float>{39, 72}));
}

TEST(BiasTest, LargeBiasGradSumsEachColumnInRowOrder) {
  // Above the OpenMP threshold: the result must equal a sequential fp32 sum in
  // row order, bit for bit (threads split columns, never rows).
  const int64_t rows = 257, cols = 1000;
  auto dy = RandomVector(rows * cols, 21);
  std::vector<float> db(cols);
  cpu::BiasGrad(dy.data(), db.data(), rows, cols);
  for (int64_t c = 0; c < cols; ++c) {
    float ref = 0.0f;
    for (int64_t r = 0; r < rows; ++r) ref += dy[r * cols + c];
    ASSERT_EQ(db[c], ref) << c;
  }
}

}  // namespace
}  // namespace shardtrain::kernels
