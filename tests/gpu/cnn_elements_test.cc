// Host checks of kernels/cuda/cnn_elements.h, the per-element formulas the
// CUDA convolution, pooling and batch-norm kernels run (one thread per
// element): the same functions called in a host loop must reproduce the CPU
// backend (the specification). im2col times the kernel, and col2im of the
// column gradient, are multiplied out in double here and compared with CPU
// Conv2DForward / Conv2DBackward within 1e-5 relative; the pooling and
// batch-norm elements repeat the CPU's float operations in its order, so they
// must equal it bit for bit (built with -ffp-contract=off, as the CPU kernels
// and nvcc's --fmad=false). Runs without a GPU (label unit).
#include "kernels/cuda/cnn_elements.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/backend.h"
#include "tests/gpu/cnn_cases.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels::cuda {
namespace {

using kernels::testing::Describe;
using kernels::testing::MakeGeometry;
using kernels::testing::RandomVector;
using kernels::testing::TiedValues;
using kernels::testing::WindowCases;

// max |a - b| / max(max |b|, tiny).
double RelativeError(const std::vector<double>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

// c (m, n) = a (m, k) · b (k, n) in double; `transpose_b` reads b as (n, k).
std::vector<double> Product(const std::vector<float>& a, const std::vector<float>& b, int64_t m,
                            int64_t k, int64_t n, bool transpose_b) {
  std::vector<double> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t l = 0; l < k; ++l) {
        sum += double{a[i * k + l]} * (transpose_b ? b[j * k + l] : b[l * n + j]);
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

std::vector<float> Im2colMatrix(const Conv2DGeometry& g, const std::vector<float>& x) {
  std::vector<float> cols(static_cast<size_t>(g.batch * g.out_h * g.out_w * Im2colColumns(g)));
  for (size_t i = 0; i < cols.size(); ++i) cols[i] = Im2colElement(g, x.data(), i);
  return cols;
}

class CnnElementsTest : public ::testing::Test {
 protected:
  std::unique_ptr<KernelBackend> cpu_ = CreateCpuBackend();
};

TEST_F(CnnElementsTest, Im2colTimesKernelIsTheCpuConvolution) {
  for (const auto& c : WindowCases()) {
    const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/false);
    const int64_t rows = g.batch * g.out_h * g.out_w, k = Im2colColumns(g);
    auto x = RandomVector(g.batch * g.in_h * g.in_w * g.in_c, 1);
    auto w = RandomVector(k * g.out_c, 2), b = RandomVector(g.out_c, 3);
    std::vector<float> y(static_cast<size_t>(rows * g.out_c));
    cpu_->Conv2DForward(g, x.data(), w.data(), b.data(), y.data());
    std::vector<double> expected = Product(Im2colMatrix(g, x), w, rows, k, g.out_c, false);
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += b[i % g.out_c];
    EXPECT_LE(RelativeError(expected, y), 1e-5) << Describe(c);
  }
}

TEST_F(CnnElementsTest, Col2imOfTheColumnGradientIsTheCpuInputGradient) {
  for (const auto& c : WindowCases()) {
    const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/false);
    const int64_t rows = g.batch * g.out_h * g.out_w, k = Im2colColumns(g);
    auto x = RandomVector(g.batch * g.in_h * g.in_w * g.in_c, 4);
    auto w = RandomVector(k * g.out_c, 5), dy = RandomVector(rows * g.out_c, 6);
    std::vector<float> dx(x.size()), dw(w.size()), db(g.out_c);
    cpu_->Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    // dcols (rows, k) = dy (rows, out_c) · wᵀ, then gathered back onto the inputs.
    const std::vector<double> dcols_exact = Product(dy, w, rows, g.out_c, k, true);
    const std::vector<float> dcols(dcols_exact.begin(), dcols_exact.end());
    std::vector<double> gathered(dx.size());
    for (size_t i = 0; i < dx.size(); ++i) gathered[i] = Col2imElement(g, dcols.data(), i);
    EXPECT_LE(RelativeError(gathered, dx), 1e-5) << Describe(c);
    // dw (k, out_c) = colsᵀ · dy: the product the GPU runs on the same columns.
    std::vector<float> cols_t(static_cast<size_t>(k * rows));
    const std::vector<float> cols = Im2colMatrix(g, x);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < k; ++j) cols_t[j * rows + r] = cols[r * k + j];
    }
    EXPECT_LE(RelativeError(Product(cols_t, dy, k, rows, g.out_c, false), dw), 1e-5) << Describe(c);
  }
}

TEST_F(CnnElementsTest, PoolElementsEqualTheCpuBitForBit) {
  for (const auto& c : WindowCases()) {
    const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/true);
    auto x = TiedValues(g.batch * g.in_h * g.in_w * g.in_c, 7);
    auto dy = RandomVector(g.batch * g.out_h * g.out_w * g.in_c, 8);
    for (const bool average : {false, true}) {
      std::vector<float> y(dy.size()), dx(x.size()), y_elements(y.size()), dx_elements(x.size());
      if (average) {
        cpu_->AvgPool2DForward(g, x.data(), y.data());
        cpu_->AvgPool2DBackward(g, dy.data(), dx.data());
      } else {
        cpu_->MaxPool2DForward(g, x.data(), y.data());
        cpu_->MaxPool2DBackward(g, x.data(), dy.data(), dx.data());
      }
      for (size_t i = 0; i < y.size(); ++i) {
        y_elements[i] = PoolForwardElement(g, x.data(), average, i);
      }
      for (size_t i = 0; i < dx.size(); ++i) {
        dx_elements[i] = PoolBackwardElement(g, x.data(), dy.data(), average, i);
      }
      EXPECT_EQ(y_elements, y) << Describe(c) << (average ? " avg" : " max");
      EXPECT_EQ(dx_elements, dx) << Describe(c) << (average ? " avg" : " max");
    }
  }
}

// The elementwise batch-norm formulas, with and without gamma/beta, on moments
// and sums the CPU computed: the same float operations, so the same bits.
TEST_F(CnnElementsTest, BatchNormElementsEqualTheCpuBitForBit) {
  const int64_t rows = 333, channels = 7;
  auto x = RandomVector(rows * channels, 11, -2, 3), dy = RandomVector(rows * channels, 12);
  auto gamma = RandomVector(channels, 13, 0.5f, 1.5f), beta = RandomVector(channels, 14);
  std::vector<float> mean(channels), var(channels), dgamma(channels), dbeta(channels);
  cpu_->BatchNormMoments(x.data(), rows, channels, mean.data(), var.data());
  cpu_->BatchNormGradSums(x.data(), dy.data(), mean.data(), var.data(), 1e-3f, dgamma.data(),
                          dbeta.data(), rows, channels);
  for (const bool affine : {true, false}) {
    const float* g = affine ? gamma.data() : nullptr;
    const float* b = affine ? beta.data() : nullptr;
    std::vector<float> y(x.size()), dx(x.size()), y_elements(x.size()), dx_elements(x.size());
    cpu_->BatchNormForward(x.data(), mean.data(), var.data(), g, b, 1e-3f, y.data(), rows,
                           channels);
    cpu_->BatchNormInputGrad(x.data(), dy.data(), mean.data(), var.data(), g, dgamma.data(),
                             dbeta.data(), 1e-3f, 3.0 * rows, dx.data(), rows, channels);
    for (size_t i = 0; i < x.size(); ++i) {
      y_elements[i] =
          BatchNormForwardElement(x.data(), mean.data(), var.data(), g, b, 1e-3f, channels, i);
      dx_elements[i] =
          BatchNormInputGradElement(x.data(), dy.data(), mean.data(), var.data(), g, dgamma.data(),
                                    dbeta.data(), 1e-3f, 3.0 * rows, channels, i);
    }
    EXPECT_EQ(y_elements, y) << (affine ? "gamma, beta" : "no gamma, beta");
    EXPECT_EQ(dx_elements, dx) << (affine ? "gamma, beta" : "no gamma, beta");
  }
}

// Inputs no window reads (valid padding, stride 2) get no gradient.
TEST_F(CnnElementsTest, UnreadInputsGetZeroGradient) {
  const Conv2DGeometry g = MakeGeometry({1, 8, 8, 1, 1, 3, 3, 2, 2, false}, /*pooling=*/false);
  ASSERT_EQ(g.out_h, 3);
  ASSERT_EQ(g.out_w, 3);
  const std::vector<float> dcols(9 * 9, 1.0f), dy(9, 1.0f), x(64, 0.0f);
  for (int64_t i = 0; i < 64; ++i) {
    const bool unread = i / 8 == 7 || i % 8 == 7;
    const float covering = Col2imElement(g, dcols.data(), i);
    EXPECT_EQ(covering == 0.0f, unread) << "input " << i;
    EXPECT_EQ(PoolBackwardElement(g, x.data(), dy.data(), true, i) == 0.0f, unread);
  }
}

}  // namespace
}  // namespace shardtrain::kernels::cuda
