// The checked entry points (kernels/ops.h) and backend construction: valid
// calls dispatch and produce the backend's results; invalid ones fail with
// InvalidArgument naming the argument and the shapes.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/backend.h"

namespace shardtrain::kernels {
namespace {

template <typename T>
TensorView View(std::vector<T>& v, Shape shape, Device device = Device::kCpu) {
  return TensorView::Of(v.data(), std::move(shape), device);
}

void ExpectInvalid(const Status& status, const std::string& fragment) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(fragment), std::string::npos)
      << "message: " << status.message() << "\nexpected to contain: " << fragment;
}

class OpsTest : public ::testing::Test {
 protected:
  std::unique_ptr<KernelBackend> backend_ = CreateCpuBackend();
};

TEST(CreateBackendTest, CpuAndCuda) {
  auto cpu = CreateBackend(Device::kCpu);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->name(), "cpu");
  EXPECT_EQ((*cpu)->device(), Device::kCpu);
  auto cuda = CreateBackend(Device::kCuda);
  EXPECT_EQ(cuda.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(cuda.status().message().find("--device cpu"), std::string::npos) << cuda.status();
}

TEST_F(OpsTest, DenseForwardDispatches) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, w = {1, 2, 3, 4, 5, 6}, b = {1, 1}, y(4);
  ASSERT_TRUE(
      DenseForward(*backend_, View(x, {2, 3}), View(w, {3, 2}), View(b, {2}), View(y, {2, 2}))
          .ok());
  EXPECT_EQ(y, (std::vector<float>{23, 29, 50, 65}));
  ASSERT_TRUE(
      DenseForward(*backend_, View(x, {2, 3}), View(w, {3, 2}), TensorView(), View(y, {2, 2}))
          .ok());
  EXPECT_EQ(y, (std::vector<float>{22, 28, 49, 64}));
}

TEST_F(OpsTest, DenseForwardRejectsMismatchedShapes) {
  std::vector<float> x(32 * 700), w(784 * 512), b(512), y(32 * 512);
  ExpectInvalid(DenseForward(*backend_, View(x, {32, 700}), View(w, {784, 512}), View(b, {512}),
                             View(y, {32, 512})),
                "DenseForward: w has shape [784, 512] but x has 700 features");
  std::vector<float> x2(32 * 784);
  ExpectInvalid(DenseForward(*backend_, View(x2, {32, 784}), View(w, {784, 512}), View(b, {500}),
                             View(y, {32, 512})),
                "DenseForward: b has shape [500] but must be [512]");
  ExpectInvalid(DenseForward(*backend_, View(x2, {32, 784}), View(w, {784, 512}), View(b, {512}),
                             View(y, {16, 512})),
                "DenseForward: y has shape [16, 512] but must be [32, 512]");
  ExpectInvalid(DenseForward(*backend_, View(x2, {32, 28, 28}), View(w, {784, 512}), View(b, {512}),
                             View(y, {32, 512})),
                "DenseForward: x has shape [32, 28, 28] but must be (batch, in)");
}

TEST_F(OpsTest, RejectsWrongDtypeAndDevice) {
  std::vector<int32_t> xi(6);
  std::vector<float> x(6), w(6), y(4);
  ExpectInvalid(
      DenseForward(*backend_, View(xi, {2, 3}), View(w, {3, 2}), TensorView(), View(y, {2, 2})),
      "DenseForward: x has dtype int32 but must be float32");
  ExpectInvalid(DenseForward(*backend_, View(x, {2, 3}), View(w, {3, 2}, Device::kCuda),
                             TensorView(), View(y, {2, 2})),
                "DenseForward: w [3, 2] is on cuda but the cpu backend runs on cpu");
}

TEST_F(OpsTest, DenseBackwardChecksEveryOutput) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, w = {1, 2, 3, 4, 5, 6}, dy = {1, 2, 3, 4};
  std::vector<float> dx(6), dw(6), db(2);
  ASSERT_TRUE(DenseBackward(*backend_, View(x, {2, 3}), View(w, {3, 2}), View(dy, {2, 2}),
                            View(dx, {2, 3}), View(dw, {3, 2}), View(db, {2}))
                  .ok());
  EXPECT_EQ(dx, (std::vector<float>{5, 11, 17, 11, 25, 39}));
  EXPECT_EQ(db, (std::vector<float>{4, 6}));
  ASSERT_TRUE(DenseBackward(*backend_, View(x, {2, 3}), View(w, {3, 2}), View(dy, {2, 2}),
                            TensorView(), View(dw, {3, 2}), TensorView())
                  .ok());
  EXPECT_EQ(dw, (std::vector<float>{13, 18, 17, 24, 21, 30}));
  ExpectInvalid(DenseBackward(*backend_, View(x, {2, 3}), View(w, {3, 2}), View(dy, {2, 2}),
                              View(dx, {3, 2}), View(dw, {3, 2}), View(db, {2})),
                "DenseBackward: dx has shape [3, 2] but must be [2, 3]");
  ExpectInvalid(DenseBackward(*backend_, View(x, {2, 3}), View(w, {3, 2}), View(dy, {2, 2}),
                              View(dx, {2, 3}), View(dw, {2, 3}), View(db, {2})),
                "DenseBackward: dw has shape [2, 3] but must be [3, 2]");
  ExpectInvalid(DenseBackward(*backend_, View(x, {2, 3}), View(w, {3, 2}), View(dy, {1, 4}),
                              View(dx, {2, 3}), View(dw, {3, 2}), View(db, {2})),
                "DenseBackward: dy has shape [1, 4] but must be [2, 2]");
}

TEST_F(OpsTest, ActivationsUseTheLastDimAsRows) {
  // (2, 1, 2) softmax over the last dim: two rows of two.
  std::vector<float> x = {0, 0, 1, 1}, y(4);
  ASSERT_TRUE(
      ActivationForward(*backend_, Activation::kSoftmax, View(x, {2, 1, 2}), View(y, {2, 1, 2}))
          .ok());
  EXPECT_EQ(y, std::vector<float>(4, 0.5f));
  ExpectInvalid(ActivationForward(*backend_, Activation::kRelu, View(x, {2, 2}), View(y, {4})),
                "ActivationForward: y has shape [4] but must be [2, 2]");
  std::vector<float> dy(4, 1.0f), dx(3);
  ExpectInvalid(ActivationBackward(*backend_, Activation::kRelu, View(y, {2, 2}), View(dy, {2, 2}),
                                   View(dx, {3})),
                "ActivationBackward: dx has shape [3] but must be [2, 2]");
}

TEST_F(OpsTest, DropoutChecksMaskAndRate) {
  std::vector<float> x(6, 1.0f), y(6);
  std::vector<uint8_t> mask(6), short_mask(5);
  ASSERT_TRUE(DropoutForward(*backend_, DropoutKey{}, 0.5f, View(x, {2, 3}), View(y, {2, 3}),
                             View(mask, {6}))
                  .ok());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y[i], mask[i] ? 2.0f : 0.0f);
  ExpectInvalid(DropoutForward(*backend_, DropoutKey{}, 0.5f, View(x, {2, 3}), View(y, {2, 3}),
                               View(short_mask, {5})),
                "DropoutForward: mask has shape [5] but x has shape [2, 3]");
  ExpectInvalid(DropoutForward(*backend_, DropoutKey{}, 1.0f, View(x, {2, 3}), View(y, {2, 3}),
                               View(mask, {6})),
                "DropoutForward: rate is 1 but must be in [0, 1)");
  ExpectInvalid(
      DropoutForward(*backend_, DropoutKey{}, 0.5f, View(x, {2, 3}), View(y, {2, 3}), View(x, {6})),
      "DropoutForward: mask has dtype float32 but must be uint8");
  std::vector<float> dx(6);
  ASSERT_TRUE(
      DropoutBackward(*backend_, 0.5f, View(mask, {2, 3}), View(x, {2, 3}), View(dx, {2, 3})).ok());
  EXPECT_EQ(dx, y);
}

TEST(FlattenTest, CollapsesTrailingDims) {
  std::vector<float> x(2 * 3 * 4);
  auto flat = Flatten(View(x, {2, 3, 4}));
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->shape(), (Shape{2, 12}));
  EXPECT_EQ(flat->data(), x.data());
  EXPECT_EQ(flat->dtype(), DType::kFloat32);
  auto one = Flatten(View(x, {24}));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->shape(), (Shape{24, 1}));
  ExpectInvalid(Flatten(View(x, Shape{})).status(), "Flatten: x has shape []");
}

TEST_F(OpsTest, SparseCrossEntropyAndAccuracyValidateLabels) {
  std::vector<float> logits = {1, 2, 3, 3, 2, 1}, losses(2), d(6);
  std::vector<int32_t> labels = {2, 0}, bad = {2, 3}, three = {0, 1, 2};
  ASSERT_TRUE(SparseSoftmaxCrossEntropyForward(*backend_, View(logits, {2, 3}), View(labels, {2}),
                                               View(losses, {2}))
                  .ok());
  EXPECT_NEAR(losses[0], 0.40760596, 1e-6);
  EXPECT_NEAR(losses[1], 0.40760596, 1e-6);
  ASSERT_TRUE(SparseSoftmaxCrossEntropyBackward(*backend_, View(logits, {2, 3}), View(labels, {2}),
                                                1.0f, View(d, {2, 3}))
                  .ok());
  EXPECT_LT(d[2], 0.0f);
  auto count = SparseAccuracyCount(*backend_, View(logits, {2, 3}), View(labels, {2}));
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2);
  ExpectInvalid(SparseSoftmaxCrossEntropyForward(*backend_, View(logits, {2, 3}), View(bad, {2}),
                                                 View(losses, {2})),
                "labels[1] = 3 is outside [0, 3)");
  ExpectInvalid(SparseSoftmaxCrossEntropyForward(*backend_, View(logits, {2, 3}), View(three, {3}),
                                                 View(losses, {2})),
                "labels has shape [3] but logits [2, 3] has batch 2");
  ExpectInvalid(SparseSoftmaxCrossEntropyForward(*backend_, View(logits, {2, 3}), View(logits, {6}),
                                                 View(losses, {2})),
                "labels has dtype float32 but must be int32");
  ExpectInvalid(SparseSoftmaxCrossEntropyBackward(*backend_, View(logits, {2, 3}),
                                                  View(labels, {2}), 1.0f, View(d, {3, 2})),
                "dlogits has shape [3, 2] but must be [2, 3]");
  ExpectInvalid(SparseAccuracyCount(*backend_, View(logits, {2, 3}), View(bad, {2})).status(),
                "SparseAccuracyCount: labels[1] = 3");
}

}  // namespace
}  // namespace shardtrain::kernels
