// GPU parity: every CudaBackend op against the CPU backend (the specification)
// on fresh random inputs — dropout masks, relu masks and initializer bits
// exact; Dense, softmax cross-entropy and optimizer updates within 1e-5
// relative in fp32; a whole reference-MLP training step within 1e-4. Skips with
// a message when no CUDA device is visible (CI, this VM); the no-device path
// itself is tested everywhere. The convolutional-model ops' entries are in
// cuda_cnn_parity_test.cc (same binary, same fixture: cuda_test_util.h).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device.h"
#include "tests/gpu/cuda_test_util.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels::cuda {
namespace {

using kernels::testing::CudaParityTest;
using kernels::testing::DeviceVector;
using kernels::testing::RandomVector;
using kernels::testing::RelativeError;

TEST_F(CudaParityTest, DenseForwardAndBackward) {
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
      {32, 784, 512}, {256, 512, 10}, {7, 3, 5}, {4096, 784, 512}};
  for (auto [batch, in, out] : shapes) {
    auto x = RandomVector(batch * in, 1), w = RandomVector(in * out, 2), b = RandomVector(out, 3);
    auto dy = RandomVector(batch * out, 4);
    std::vector<float> y(batch * out), dx(batch * in), dw(in * out), db(out);
    cpu_->DenseForward(x.data(), w.data(), b.data(), y.data(), batch, in, out);
    cpu_->DenseBackward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), batch, in,
                        out);
    DeviceVector<float> gx(x), gw(w), gb(b), gdy(dy), gy(y.size()), gdx(dx.size()), gdw(dw.size()),
        gdb(db.size());
    gpu_->DenseForward(gx.get(), gw.get(), gb.get(), gy.get(), batch, in, out);
    gpu_->DenseBackward(gx.get(), gw.get(), gdy.get(), gdx.get(), gdw.get(), gdb.get(), batch, in,
                        out);
    ASSERT_TRUE(gpu_->Synchronize().ok());
    EXPECT_LE(RelativeError(gy.Host(), y), 1e-5) << batch << "x" << in << "x" << out;
    EXPECT_LE(RelativeError(gdx.Host(), dx), 1e-5);
    EXPECT_LE(RelativeError(gdw.Host(), dw), 1e-5);
    EXPECT_LE(RelativeError(gdb.Host(), db), 1e-5);
  }
}

TEST_F(CudaParityTest, ActivationsAndReluMaskExact) {
  const int64_t rows = 64, cols = 513;
  auto x = RandomVector(rows * cols, 5, -3, 3), dy = RandomVector(rows * cols, 6);
  for (Activation act : {Activation::kRelu, Activation::kSigmoid, Activation::kTanh,
                         Activation::kSoftmax, Activation::kLinear}) {
    std::vector<float> y(x.size()), dx(x.size());
    cpu_->ActivationForward(act, x.data(), y.data(), rows, cols);
    cpu_->ActivationBackward(act, y.data(), dy.data(), dx.data(), rows, cols);
    DeviceVector<float> gx(x), gdy(dy), gy(y.size()), gdx(dx.size());
    gpu_->ActivationForward(act, gx.get(), gy.get(), rows, cols);
    gpu_->ActivationBackward(act, gy.get(), gdy.get(), gdx.get(), rows, cols);
    ASSERT_TRUE(gpu_->Synchronize().ok());
    if (act == Activation::kRelu || act == Activation::kLinear) {
      EXPECT_EQ(gy.Host(), y) << ActivationName(act);  // no rounding involved: exact
      EXPECT_EQ(gdx.Host(), dx) << ActivationName(act);
    } else {
      EXPECT_LE(RelativeError(gy.Host(), y), 1e-5) << ActivationName(act);
      EXPECT_LE(RelativeError(gdx.Host(), dx), 1e-5) << ActivationName(act);
    }
  }
}

TEST_F(CudaParityTest, DropoutMasksAreBitIdentical) {
  for (int64_t n : {1, 3, 16384, 100003}) {
    auto x = RandomVector(n, 7);
    const DropoutKey key{0x1234567890abcdefull, 42, 3, (1ull << 33) + 1};
    std::vector<float> y(n);
    std::vector<uint8_t> mask(n);
    cpu_->DropoutForward(key, 0.2f, x.data(), y.data(), mask.data(), n);
    DeviceVector<float> gx(x), gy(static_cast<size_t>(n));
    DeviceVector<uint8_t> gmask(static_cast<size_t>(n));
    gpu_->DropoutForward(key, 0.2f, gx.get(), gy.get(), gmask.get(), n);
    ASSERT_TRUE(gpu_->Synchronize().ok());
    EXPECT_EQ(gmask.Host(), mask) << "n=" << n;
    EXPECT_EQ(gy.Host(), y) << "n=" << n;
  }
}

TEST_F(CudaParityTest, SoftmaxCrossEntropyAndAccuracy) {
  const int64_t batch = 300, classes = 10;
  auto logits = RandomVector(batch * classes, 8, -4, 4);
  std::vector<int32_t> labels(batch);
  for (int64_t b = 0; b < batch; ++b) labels[b] = static_cast<int32_t>((b * 7) % classes);
  std::vector<float> losses(batch), dlogits(batch * classes);
  cpu_->SparseSoftmaxCrossEntropyForward(logits.data(), labels.data(), losses.data(), batch,
                                         classes);
  cpu_->SparseSoftmaxCrossEntropyBackward(logits.data(), labels.data(), 1.0f / batch,
                                          dlogits.data(), batch, classes);
  const int64_t correct = cpu_->SparseAccuracyCount(logits.data(), labels.data(), batch, classes);
  DeviceVector<float> gl(logits), glosses(losses.size()), gd(dlogits.size());
  DeviceVector<int32_t> glabels(labels);
  DeviceVector<unsigned long long> gcorrect(std::vector<unsigned long long>{0});
  gpu_->SparseSoftmaxCrossEntropyWithAccuracy(gl.get(), glabels.get(), 1.0f / batch, glosses.get(),
                                              gd.get(), batch, classes, gcorrect.get());
  EXPECT_EQ(gpu_->SparseAccuracyCount(gl.get(), glabels.get(), batch, classes), correct);
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_LE(RelativeError(glosses.Host(), losses), 1e-5);
  EXPECT_LE(RelativeError(gd.Host(), dlogits), 1e-5);
  EXPECT_EQ(static_cast<int64_t>(gcorrect.Host()[0]), correct);
}

TEST_F(CudaParityTest, BinaryCrossEntropyAndScaleRows) {
  const int64_t batch = 300, dim = 1;
  auto target = RandomVector(batch * dim, 17, 0, 1), weights = RandomVector(batch, 18, 0, 3);
  for (const bool from_logits : {true, false}) {
    auto output = from_logits ? RandomVector(batch * dim, 19, -20, 20)
                              : RandomVector(batch * dim, 20, -0.1f, 1.1f);  // some clipped
    std::vector<float> losses(batch), d(batch * dim);
    cpu_->BinaryCrossEntropyForward(output.data(), target.data(), from_logits, losses.data(),
                                    batch, dim);
    cpu_->BinaryCrossEntropyBackward(output.data(), target.data(), from_logits, 1.0f / batch,
                                     d.data(), batch, dim);
    cpu_->ScaleRows(d.data(), weights.data(), batch, dim);
    DeviceVector<float> go(output), gt(target), gw(weights), glosses(losses.size()),
        gd(d.size());
    gpu_->BinaryCrossEntropyForward(go.get(), gt.get(), from_logits, glosses.get(), batch, dim);
    gpu_->BinaryCrossEntropyBackward(go.get(), gt.get(), from_logits, 1.0f / batch, gd.get(),
                                     batch, dim);
    gpu_->ScaleRows(gd.get(), gw.get(), batch, dim);
    ASSERT_TRUE(gpu_->Synchronize().ok());
    EXPECT_LE(RelativeError(glosses.Host(), losses), 1e-5) << from_logits;
    EXPECT_LE(RelativeError(gd.Host(), d), 1e-5) << from_logits;
  }
}

TEST_F(CudaParityTest, OptimizersOverAFlatBuffer) {
  const int64_t n = 407050;  // the reference MLP's parameter count
  auto w0 = RandomVector(n, 9), g = RandomVector(n, 10), s0 = RandomVector(n, 11, 0, 1);
  auto run = [&](auto cpu_update, auto gpu_update) {
    std::vector<float> w = w0, a = s0, b = s0;
    cpu_update(w.data(), a.data(), b.data());
    DeviceVector<float> gw(w0), gg(g), ga(s0), gb(s0);
    gpu_update(gw.get(), gg.get(), ga.get(), gb.get());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    EXPECT_LE(RelativeError(gw.Host(), w), 1e-5);
    EXPECT_LE(RelativeError(ga.Host(), a), 1e-5);
  };
  const AdamParams adam{1e-3f, 0.9f, 0.999f, 1e-7f, 3};
  run([&](float* w, float* m, float* v) { cpu_->AdamUpdate(adam, w, g.data(), m, v, n); },
      [&](float* w, float* gr, float* m, float* v) { gpu_->AdamUpdate(adam, w, gr, m, v, n); });
  const SgdParams sgd{0.01f, 0.9f, true};
  run([&](float* w, float* v, float*) { cpu_->SgdUpdate(sgd, w, g.data(), v, n); },
      [&](float* w, float* gr, float* v, float*) { gpu_->SgdUpdate(sgd, w, gr, v, n); });
  const RmspropParams rms{1e-3f, 0.9f, 1e-7f, 0.5f};
  run([&](float* w, float* ms, float* mom) { cpu_->RmspropUpdate(rms, w, g.data(), ms, mom, n); },
      [&](float* w, float* gr, float* ms, float* mom) {
        gpu_->RmspropUpdate(rms, w, gr, ms, mom, n);
      });
}

TEST_F(CudaParityTest, GlorotUniformBitsEqual) {
  std::vector<float> w(784 * 512);
  cpu_->GlorotUniform(77, 2, w.data(), 784, 512);
  DeviceVector<float> gw(w.size());
  gpu_->GlorotUniform(77, 2, gw.get(), 784, 512);
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(gw.Host(), w);
}

// One training step of the reference MLP (Dense 512 relu, dropout 0.2,
// Dense 10, sparse softmax cross-entropy, Adam) on both backends.
TEST_F(CudaParityTest, WholeTrainingStepWithin1e4) {
  const int64_t batch = 32, in = 784, hidden = 512, classes = 10;
  auto x = RandomVector(batch * in, 12, 0, 1);
  std::vector<int32_t> labels(batch);
  for (int64_t b = 0; b < batch; ++b) labels[b] = static_cast<int32_t>(b % classes);
  auto w1 = RandomVector(in * hidden, 13, -0.05f, 0.05f), b1 = RandomVector(hidden, 14, -0.01f, 0.01f);
  auto w2 = RandomVector(hidden * classes, 15, -0.1f, 0.1f), b2 = RandomVector(classes, 16, -0.01f, 0.01f);
  const DropoutKey key{1, 1, 0, 0};
  auto step = [&](KernelBackend& k, float* x_, int32_t* l_, float* w1_, float* b1_, float* w2_,
                  float* b2_, float* h, float* d, uint8_t* mask, float* logits, float* losses,
                  float* dlogits, float* dd, float* dh, float* dw1, float* db1, float* dw2,
                  float* db2, float* m, float* v) {
    k.DenseForward(x_, w1_, b1_, h, batch, in, hidden);
    k.ActivationForward(Activation::kRelu, h, h, batch, hidden);
    k.DropoutForward(key, 0.2f, h, d, mask, batch * hidden);
    k.DenseForward(d, w2_, b2_, logits, batch, hidden, classes);
    k.SparseSoftmaxCrossEntropyForward(logits, l_, losses, batch, classes);
    k.SparseSoftmaxCrossEntropyBackward(logits, l_, 1.0f / batch, dlogits, batch, classes);
    k.DenseBackward(d, w2_, dlogits, dd, dw2, db2, batch, hidden, classes);
    k.DropoutBackward(0.2f, mask, dd, dh, batch * hidden);
    k.ActivationBackward(Activation::kRelu, h, dh, dh, batch, hidden);
    k.DenseBackward(x_, w1_, dh, nullptr, dw1, db1, batch, in, hidden);
    const AdamParams adam{1e-3f, 0.9f, 0.999f, 1e-7f, 1};
    k.AdamUpdate(adam, w1_, dw1, m, v, in * hidden);
  };
  std::vector<float> h(batch * hidden), d(h.size()), logits(batch * classes), losses(batch),
      dlogits(logits.size()), dd(h.size()), dh(h.size()), dw1(w1.size()), db1(hidden),
      dw2(w2.size()), db2(classes), m(w1.size()), v(w1.size());
  std::vector<uint8_t> mask(h.size());
  std::vector<float> cw1 = w1;
  step(*cpu_, x.data(), labels.data(), cw1.data(), b1.data(), w2.data(), b2.data(), h.data(),
       d.data(), mask.data(), logits.data(), losses.data(), dlogits.data(), dd.data(), dh.data(),
       dw1.data(), db1.data(), dw2.data(), db2.data(), m.data(), v.data());
  DeviceVector<float> gx(x), gw1(w1), gb1(b1), gw2(w2), gb2(b2), gh(h.size()), gd(h.size()),
      glogits(logits.size()), glosses(batch), gdlogits(logits.size()), gdd(h.size()),
      gdh(h.size()), gdw1(w1.size()), gdb1(hidden), gdw2(w2.size()), gdb2(classes),
      gm(w1.size()), gv(w1.size());
  DeviceVector<int32_t> glabels(labels);
  DeviceVector<uint8_t> gmask(mask.size());
  step(*gpu_, gx.get(), glabels.get(), gw1.get(), gb1.get(), gw2.get(), gb2.get(), gh.get(),
       gd.get(), gmask.get(), glogits.get(), glosses.get(), gdlogits.get(), gdd.get(), gdh.get(),
       gdw1.get(), gdb1.get(), gdw2.get(), gdb2.get(), gm.get(), gv.get());
  ASSERT_TRUE(gpu_->Synchronize().ok());
  EXPECT_EQ(gmask.Host(), mask);
  EXPECT_LE(RelativeError(glosses.Host(), losses), 1e-4);
  EXPECT_LE(RelativeError(gdw2.Host(), dw2), 1e-4);
  EXPECT_LE(RelativeError(gw1.Host(), cw1), 1e-4);
}

TEST(CudaBackendTest, NoDeviceIsFailedPreconditionNotACrash) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a device is present";
  auto backend = CudaBackend::Create(0, false);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(backend.status().message().find("--device cpu"), std::string::npos);
}

}  // namespace
}  // namespace shardtrain::kernels::cuda
