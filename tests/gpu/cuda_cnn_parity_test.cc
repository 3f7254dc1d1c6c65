// GPU parity of the convolutional-model ops: each CudaBackend op against the
// CPU backend (the specification) on the same random inputs, over the
// geometries of cnn_cases.h. Tolerances, relative to the largest reference
// value: Conv2D forward and dx 1e-5 (cuBLAS sgemm vs the CPU's direct loops,
// sums of at most a few hundred products); dw and db 1e-4 (sums over every
// output pixel of the batch, chunked on the GPU); batch-norm moments and
// gradient sums 1e-6 (double sums in another order); the batch-norm
// elementwise ops, pooling, Add, the column copies and GlorotUniformN bit for
// bit (the same IEEE float operations in the same order: cnn_elements.h,
// --fmad=false). Skips without a device (the fixture).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/gpu/cnn_cases.h"
#include "tests/gpu/cuda_test_util.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels::cuda {
namespace {

using kernels::testing::CudaParityTest;
using kernels::testing::Describe;
using kernels::testing::DeviceVector;
using kernels::testing::MakeGeometry;
using kernels::testing::RandomVector;
using kernels::testing::RelativeError;
using kernels::testing::TiedValues;
using kernels::testing::WindowCases;

// Conv2D forward and backward (dx, dw, db) on both backends, then compared.
void ExpectConvParity(KernelBackend& cpu, CudaBackend& gpu, const Conv2DGeometry& g,
                      const std::string& what) {
  const int64_t k = g.window_h * g.window_w * g.in_c;
  auto x = RandomVector(g.batch * g.in_h * g.in_w * g.in_c, 21), w = RandomVector(k * g.out_c, 22);
  auto b = RandomVector(g.out_c, 23), dy = RandomVector(g.batch * g.out_h * g.out_w * g.out_c, 24);
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  cpu.Conv2DForward(g, x.data(), w.data(), b.data(), y.data());
  cpu.Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  DeviceVector<float> gx(x), gw(w), gb(b), gdy(dy), gy(y.size()), gdx(dx.size()), gdw(dw.size()),
      gdb(db.size());
  gpu.Conv2DForward(g, gx.get(), gw.get(), gb.get(), gy.get());
  gpu.Conv2DBackward(g, gx.get(), gw.get(), gdy.get(), gdx.get(), gdw.get(), gdb.get());
  ASSERT_TRUE(gpu.Synchronize().ok()) << what;
  EXPECT_LE(RelativeError(gy.Host(), y), 1e-5) << what;
  EXPECT_LE(RelativeError(gdx.Host(), dx), 1e-5) << what;
  EXPECT_LE(RelativeError(gdw.Host(), dw), 1e-4) << what;
  EXPECT_LE(RelativeError(gdb.Host(), db), 1e-4) << what;
}

TEST_F(CudaParityTest, Conv2DForwardAndBackward) {
  for (const auto& c : WindowCases()) {
    ExpectConvParity(*cpu_, *gpu_, MakeGeometry(c, /*pooling=*/false), Describe(c));
  }
}

// 7 examples of 128x128x16 under a 5x5 window: 26.2 MB of im2col each, so
// the 128 MiB workspace takes 5 and the batch runs in two chunks.
TEST_F(CudaParityTest, Conv2DOverSeveralWorkspaceChunks) {
  const kernels::testing::WindowCase c{7, 128, 128, 16, 8, 5, 5, 1, 1, true};
  ExpectConvParity(*cpu_, *gpu_, MakeGeometry(c, /*pooling=*/false), Describe(c));
}

// An im2col chunk larger than the device: recorded as ResourceExhausted, not
// thrown; nothing is launched, and the backend works again once it is read.
TEST_F(CudaParityTest, Conv2DWorkspaceAllocationFailureIsRecorded) {
  const kernels::testing::WindowCase c{1, 20000, 20000, 64, 1, 3, 3, 1, 1, true};
  const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/false);
  DeviceVector<float> tiny(std::vector<float>(16));
  gpu_->Conv2DForward(g, tiny.get(), tiny.get(), nullptr, tiny.get());
  EXPECT_EQ(gpu_->CheckErrors().code(), StatusCode::kResourceExhausted);
  gpu_->Fill(tiny.get(), 1.0f, 16);
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(tiny.Host(), std::vector<float>(16, 1.0f));
}

TEST_F(CudaParityTest, PoolingBitForBit) {
  for (const auto& c : WindowCases()) {
    const Conv2DGeometry g = MakeGeometry(c, /*pooling=*/true);
    auto x = TiedValues(g.batch * g.in_h * g.in_w * g.in_c, 25);  // ties: first-max routing
    auto dy = RandomVector(g.batch * g.out_h * g.out_w * g.in_c, 26);
    std::vector<float> max_y(dy.size()), max_dx(x.size()), avg_y(dy.size()), avg_dx(x.size());
    cpu_->MaxPool2DForward(g, x.data(), max_y.data());
    cpu_->MaxPool2DBackward(g, x.data(), dy.data(), max_dx.data());
    cpu_->AvgPool2DForward(g, x.data(), avg_y.data());
    cpu_->AvgPool2DBackward(g, dy.data(), avg_dx.data());
    DeviceVector<float> gx(x), gdy(dy), gmax_y(dy.size()), gmax_dx(x.size()), gavg_y(dy.size()),
        gavg_dx(x.size());
    gpu_->MaxPool2DForward(g, gx.get(), gmax_y.get());
    gpu_->MaxPool2DBackward(g, gx.get(), gdy.get(), gmax_dx.get());
    gpu_->AvgPool2DForward(g, gx.get(), gavg_y.get());
    gpu_->AvgPool2DBackward(g, gdy.get(), gavg_dx.get());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    EXPECT_EQ(gmax_y.Host(), max_y) << Describe(c);
    EXPECT_EQ(gmax_dx.Host(), max_dx) << Describe(c);
    EXPECT_EQ(gavg_y.Host(), avg_y) << Describe(c);
    EXPECT_EQ(gavg_dx.Host(), avg_dx) << Describe(c);
  }
}

// Moments, forward (with and without gamma/beta), gradient sums and input
// gradient; rows not a multiple of the 256-thread reduction, and one row.
TEST_F(CudaParityTest, BatchNormalization) {
  for (const auto& [rows, channels] :
       std::vector<std::pair<int64_t, int64_t>>{{2 * 13 * 13, 32}, {1000, 3}, {1, 5}, {4096, 64}}) {
    auto x = RandomVector(rows * channels, 31, -2, 3), dy = RandomVector(rows * channels, 32);
    auto gamma = RandomVector(channels, 33, 0.5f, 1.5f), beta = RandomVector(channels, 34);
    std::vector<float> mean(channels), var(channels), y(x.size()), y_plain(x.size()),
        dgamma(channels), dbeta(channels), dx(x.size());
    cpu_->BatchNormMoments(x.data(), rows, channels, mean.data(), var.data());
    cpu_->BatchNormForward(x.data(), mean.data(), var.data(), gamma.data(), beta.data(), 1e-3f,
                           y.data(), rows, channels);
    cpu_->BatchNormForward(x.data(), mean.data(), var.data(), nullptr, nullptr, 1e-3f,
                           y_plain.data(), rows, channels);
    cpu_->BatchNormGradSums(x.data(), dy.data(), mean.data(), var.data(), 1e-3f, dgamma.data(),
                            dbeta.data(), rows, channels);
    cpu_->BatchNormInputGrad(x.data(), dy.data(), mean.data(), var.data(), gamma.data(),
                             dgamma.data(), dbeta.data(), 1e-3f, 2.0 * rows, dx.data(), rows,
                             channels);
    // The GPU's later steps read the CPU's moments and sums: each op compared alone.
    DeviceVector<float> gx(x), gdy(dy), ggamma(gamma), gbeta(beta), gmean(mean), gvar(var),
        gdgamma(dgamma), gdbeta(dbeta), out_mean(channels), out_var(channels), gy(x.size()),
        gy_plain(x.size()), out_dgamma(channels), out_dbeta(channels), gdx(x.size());
    gpu_->BatchNormMoments(gx.get(), rows, channels, out_mean.get(), out_var.get());
    gpu_->BatchNormForward(gx.get(), gmean.get(), gvar.get(), ggamma.get(), gbeta.get(), 1e-3f,
                           gy.get(), rows, channels);
    gpu_->BatchNormForward(gx.get(), gmean.get(), gvar.get(), nullptr, nullptr, 1e-3f,
                           gy_plain.get(), rows, channels);
    gpu_->BatchNormGradSums(gx.get(), gdy.get(), gmean.get(), gvar.get(), 1e-3f, out_dgamma.get(),
                            out_dbeta.get(), rows, channels);
    gpu_->BatchNormInputGrad(gx.get(), gdy.get(), gmean.get(), gvar.get(), ggamma.get(),
                             gdgamma.get(), gdbeta.get(), 1e-3f, 2.0 * rows, gdx.get(), rows,
                             channels);
    ASSERT_TRUE(gpu_->Synchronize().ok());
    const std::string what = std::to_string(rows) + "x" + std::to_string(channels);
    EXPECT_LE(RelativeError(out_mean.Host(), mean), 1e-6) << what;
    EXPECT_LE(RelativeError(out_var.Host(), var), 1e-6) << what;
    EXPECT_EQ(gy.Host(), y) << what;
    EXPECT_EQ(gy_plain.Host(), y_plain) << what;
    EXPECT_LE(RelativeError(out_dgamma.Host(), dgamma), 1e-6) << what;
    EXPECT_LE(RelativeError(out_dbeta.Host(), dbeta), 1e-6) << what;
    EXPECT_EQ(gdx.Host(), dx) << what;
  }
}

TEST_F(CudaParityTest, AddInPlaceAndColumnCopiesExact) {
  const int64_t rows = 300, left = 7, right = 12, cols = left + right;
  auto a = RandomVector(rows * left, 41), b = RandomVector(rows * right, 42);
  std::vector<float> sum(a.size()), joined(rows * cols, -1.0f), back(b.size());
  cpu_->Add(a.data(), a.data(), sum.data(), rows * left);
  cpu_->CopyColumnsInto(a.data(), rows, left, joined.data(), cols, 0);
  cpu_->CopyColumnsInto(b.data(), rows, right, joined.data(), cols, left);
  cpu_->CopyColumnsFrom(joined.data(), rows, cols, left, back.data(), right);
  DeviceVector<float> ga(a), gb(b), gsum(a), gjoined(std::vector<float>(rows * cols, -1.0f)),
      gback(b.size());
  gpu_->Add(gsum.get(), ga.get(), gsum.get(), rows * left);  // y aliases a
  gpu_->CopyColumnsInto(ga.get(), rows, left, gjoined.get(), cols, 0);
  gpu_->CopyColumnsInto(gb.get(), rows, right, gjoined.get(), cols, left);
  gpu_->CopyColumnsFrom(gjoined.get(), rows, cols, left, gback.get(), right);
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(gsum.Host(), sum);
  EXPECT_EQ(gjoined.Host(), joined);
  EXPECT_EQ(gback.Host(), back);
  EXPECT_EQ(back, b);
}

// A 3x3x16x32 conv kernel: fan_in 144, fan_out 288, as Keras computes them.
TEST_F(CudaParityTest, GlorotUniformNBitsEqual) {
  const int64_t n = 3 * 3 * 16 * 32;
  std::vector<float> w(n);
  cpu_->GlorotUniformN(77, 5, w.data(), n, 3 * 3 * 16, 3 * 3 * 32);
  DeviceVector<float> gw(static_cast<size_t>(n));
  gpu_->GlorotUniformN(77, 5, gw.get(), n, 3 * 3 * 16, 3 * 3 * 32);
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(gw.Host(), w);
}

}  // namespace
}  // namespace shardtrain::kernels::cuda
