// What only the CUDA backend has, beyond the parity table (parity_cuda_test.cc):
// the table's ops at the reference model's full sizes (Dense at batch 4096,
// Adam over all 407050 parameters, Conv2D over several workspace chunks), the
// fused SparseSoftmaxCrossEntropyWithAccuracy, a whole reference-MLP training
// step within 1e-4 of the CPU, a workspace allocation failure recorded rather
// than thrown, and FailedPrecondition (not a crash) without a device. Skips
// with a message when no device is visible (CudaTest), except that last test.
#include "kernels/cuda/cuda_backend.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/device.h"
#include "tests/gpu/cnn_cases.h"
#include "tests/gpu/cuda_test_util.h"
#include "tests/kernels/parity_cases.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels::testing {
namespace {

TEST_F(CudaTest, DenseAndAdamAtFullSize) {
  const ParityCase dense{"dense_4096x784x512", [](ParityRun& r) {
                           const int64_t batch = 4096, in = 784, out = 512;
                           float* x = r.In(RandomVector(batch * in, 1));
                           float* w = r.In(RandomVector(in * out, 2));
                           float* dy = r.In(RandomVector(batch * out, 4));
                           PARITY_OP(r, DenseForward, x, w, r.In(RandomVector(out, 3)),
                                     r.Out("y", batch * out, 1e-5), batch, in, out);
                           PARITY_OP(r, DenseBackward, x, w, dy, r.Out("dx", batch * in, 1e-5),
                                     r.Out("dw", in * out, 1e-5), r.Out("db", out, 1e-5), batch, in,
                                     out);
                         }};
  ExpectParity(dense, *cpu_, *gpu_, /*bitwise=*/false);
  const ParityCase adam{"adam_407050", [](ParityRun& r) {
                          const int64_t n = 407050;  // the reference MLP's parameter count
                          PARITY_OP(r, AdamUpdate, AdamParams{1e-3f, 0.9f, 0.999f, 1e-7f, 3},
                                    r.InOut("w", RandomVector(n, 9), 1e-5),
                                    r.In(RandomVector(n, 10)),
                                    r.InOut("m", RandomVector(n, 11), 1e-5),
                                    r.InOut("v", RandomVector(n, 12, 0, 1), 1e-5), n);
                        }};
  ExpectParity(adam, *cpu_, *gpu_, /*bitwise=*/false);
}

// 7 examples of 128x128x16 under a 5x5 window: 26.2 MB of im2col each, so
// the 128 MiB workspace takes 5 and the batch runs in two chunks.
TEST_F(CudaTest, Conv2DOverSeveralWorkspaceChunks) {
  const ParityCase conv{"conv2d_two_chunks", [](ParityRun& r) {
                          const Conv2DGeometry g =
                              MakeGeometry(WindowCase{7, 128, 128, 16, 8, 5, 5, 1, 1, true}, false);
                          const int64_t x_n = g.batch * g.in_h * g.in_w * g.in_c;
                          const int64_t w_n = 5 * 5 * g.in_c * g.out_c;
                          const int64_t y_n = g.batch * g.out_h * g.out_w * g.out_c;
                          float* x = r.In(RandomVector(x_n, 21));
                          float* w = r.In(RandomVector(w_n, 22));
                          float* b = r.In(RandomVector(g.out_c, 23));
                          PARITY_OP(r, Conv2DForward, g, x, w, b, r.Out("y", y_n, 1e-5));
                          PARITY_OP(r, Conv2DBackward, g, x, w, r.In(RandomVector(y_n, 24)),
                                    r.Out("dx", x_n, 1e-5), r.Out("dw", w_n, 1e-4),
                                    r.Out("db", g.out_c, 1e-4));
                        }};
  ExpectParity(conv, *cpu_, *gpu_, /*bitwise=*/false);
}

// An im2col chunk larger than the device: recorded as ResourceExhausted, not
// thrown; nothing is launched, and the backend works again once it is read.
TEST_F(CudaTest, Conv2DWorkspaceAllocationFailureIsRecorded) {
  const Conv2DGeometry g =
      MakeGeometry(WindowCase{1, 20000, 20000, 64, 1, 3, 3, 1, 1, true}, false);
  float* tiny = Zeros<float>(16);
  gpu_->Conv2DForward(g, tiny, tiny, nullptr, tiny);
  EXPECT_EQ(gpu_->CheckErrors().code(), StatusCode::kResourceExhausted);
  gpu_->Fill(tiny, 1.0f, 16);
  EXPECT_EQ(Download(tiny, 16), std::vector<float>(16, 1.0f));
}

TEST_F(CudaTest, FusedSoftmaxCrossEntropyWithAccuracy) {
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
  float* glosses = Zeros<float>(batch);
  float* gd = Zeros<float>(dlogits.size());
  auto* gcorrect = Zeros<unsigned long long>(1);
  gpu_->SparseSoftmaxCrossEntropyWithAccuracy(Upload(logits), Upload(labels), 1.0f / batch, glosses,
                                              gd, batch, classes, gcorrect);
  EXPECT_LE(RelativeError(Download(glosses, batch), losses), 1e-5);
  EXPECT_LE(RelativeError(Download(gd, dlogits.size()), dlogits), 1e-5);
  EXPECT_EQ(static_cast<int64_t>(Download(gcorrect, 1)[0]), correct);
}

// One training step of the reference MLP (Dense 512 relu, dropout 0.2,
// Dense 10, sparse softmax cross-entropy, Adam on the first layer).
struct StepBuffers {
  float *x, *w1, *b1, *w2, *b2, *h, *d, *logits, *losses, *dlogits, *dd, *dh, *dw1, *db1, *dw2,
      *db2, *m, *v;
  int32_t* labels;
  uint8_t* mask;
};
constexpr int64_t kBatch = 32, kIn = 784, kHidden = 512, kClasses = 10;

void ReferenceStep(KernelBackend& k, const StepBuffers& s) {
  const DropoutKey key{1, 1, 0, 0};
  k.DenseForward(s.x, s.w1, s.b1, s.h, kBatch, kIn, kHidden);
  k.ActivationForward(Activation::kRelu, s.h, s.h, kBatch, kHidden);
  k.DropoutForward(key, 0.2f, s.h, s.d, s.mask, kBatch * kHidden);
  k.DenseForward(s.d, s.w2, s.b2, s.logits, kBatch, kHidden, kClasses);
  k.SparseSoftmaxCrossEntropyForward(s.logits, s.labels, s.losses, kBatch, kClasses);
  k.SparseSoftmaxCrossEntropyBackward(s.logits, s.labels, 1.0f / kBatch, s.dlogits, kBatch,
                                      kClasses);
  k.DenseBackward(s.d, s.w2, s.dlogits, s.dd, s.dw2, s.db2, kBatch, kHidden, kClasses);
  k.DropoutBackward(0.2f, s.mask, s.dd, s.dh, kBatch * kHidden);
  k.ActivationBackward(Activation::kRelu, s.h, s.dh, s.dh, kBatch, kHidden);
  k.DenseBackward(s.x, s.w1, s.dh, nullptr, s.dw1, s.db1, kBatch, kIn, kHidden);
  k.AdamUpdate(AdamParams{1e-3f, 0.9f, 0.999f, 1e-7f, 1}, s.w1, s.dw1, s.m, s.v, kIn * kHidden);
}

TEST_F(CudaTest, WholeTrainingStepWithin1e4) {
  auto x = RandomVector(kBatch * kIn, 12, 0, 1);
  std::vector<int32_t> labels(kBatch);
  for (int64_t b = 0; b < kBatch; ++b) labels[b] = static_cast<int32_t>(b % kClasses);
  auto w1 = RandomVector(kIn * kHidden, 13, -0.05f, 0.05f), b1 = RandomVector(kHidden, 14);
  auto w2 = RandomVector(kHidden * kClasses, 15, -0.1f, 0.1f), b2 = RandomVector(kClasses, 16);
  const size_t hidden = kBatch * kHidden, out = kBatch * kClasses;
  std::vector<float> h(hidden), d(hidden), logits(out), losses(kBatch), dlogits(out), dd(hidden),
      dh(hidden), dw1(w1.size()), db1(kHidden), dw2(w2.size()), db2(kClasses), m(w1.size()),
      v(w1.size()), cw1 = w1;
  std::vector<uint8_t> mask(hidden);
  ReferenceStep(*cpu_, {x.data(),   cw1.data(), b1.data(),     w2.data(),     b2.data(),
                        h.data(),   d.data(),   logits.data(), losses.data(), dlogits.data(),
                        dd.data(),  dh.data(),  dw1.data(),    db1.data(),    dw2.data(),
                        db2.data(), m.data(),   v.data(),      labels.data(), mask.data()});
  const StepBuffers g{Upload(x),
                      Upload(w1),
                      Upload(b1),
                      Upload(w2),
                      Upload(b2),
                      Zeros<float>(hidden),
                      Zeros<float>(hidden),
                      Zeros<float>(out),
                      Zeros<float>(kBatch),
                      Zeros<float>(out),
                      Zeros<float>(hidden),
                      Zeros<float>(hidden),
                      Zeros<float>(w1.size()),
                      Zeros<float>(kHidden),
                      Zeros<float>(w2.size()),
                      Zeros<float>(kClasses),
                      Zeros<float>(w1.size()),
                      Zeros<float>(w1.size()),
                      Upload(labels),
                      Zeros<uint8_t>(hidden)};
  ReferenceStep(*gpu_, g);
  EXPECT_EQ(Download(g.mask, hidden), mask);
  EXPECT_LE(RelativeError(Download(g.losses, kBatch), losses), 1e-4);
  EXPECT_LE(RelativeError(Download(g.dw2, w2.size()), dw2), 1e-4);
  EXPECT_LE(RelativeError(Download(g.w1, w1.size()), cw1), 1e-4);
}

TEST(CudaBackendTest, NoDeviceIsFailedPreconditionNotACrash) {
  if (cuda::CudaDeviceCount() > 0) GTEST_SKIP() << "a device is present";
  auto backend = cuda::CudaBackend::Create(0, false);
  ASSERT_FALSE(backend.ok());
  EXPECT_EQ(backend.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(backend.status().message().find("--device cpu"), std::string::npos);
}

}  // namespace
}  // namespace shardtrain::kernels::testing
