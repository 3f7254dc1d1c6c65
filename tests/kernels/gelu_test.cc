// GELU on the CPU backend (Keras gelu, approximate False and True): values and
// derivatives against pure-Python double references (gelu_reference.py, with
// math.erf), saturation without NaN, and the backward taking the input x.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/backend.h"

namespace shardtrain::kernels {
namespace {

struct GeluCase {
  double x, value, derivative;
};

// Printed by tests/kernels/gelu_reference.py.
const GeluCase kErfForm[] = {
    {-8.0, -4.8849813083506888e-15, -3.9807546004751306e-14},
    {-3.0, -0.0040496940948903104, -0.011945647204183918},
    {-1.5, -0.10021080190328713, -0.12746919222997954},
    {-0.5, -0.15426876936299344, 0.13250487534383712},
    {-0.1, -0.046017216272297101, 0.42047690797526982},
    {0.0, 0, 0.5},
    {0.2, 0.11585194188782061, 0.65746824823419414},
    {0.7, 0.53062544344384888, 0.97661410113365987},
    {1.0, 0.84134474606854293, 1.0833154705876864},
    {2.5, 2.4844758366855597, 1.0376110859081451},
    {4.0, 3.9998733150326675, 1.0005036496612265},
};
const GeluCase kTanhForm[] = {
    {-8.0, -0, 0},
    {-3.0, -0.0036373920817729943, -0.011584166630969516},
    {-1.5, -0.10042842301976707, -0.12771079315143311},
    {-0.5, -0.15428599017485606, 0.13263009646535764},
    {-0.1, -0.046017248954564841, 0.42047821072824332},
    {0.0, 0, 0.5},
    {0.2, 0.11585142978210627, 0.65745814919569945},
    {0.7, 0.53057013470511671, 0.97635721865610403},
    {1.0, 0.84119199060827676, 1.0829640838457826},
    {2.5, 2.4849157339100012, 1.0379515762126661},
    {4.0, 3.9999297540518075, 1.000335123197122},
};

void ExpectMatchesReference(Activation act, const GeluCase* cases, size_t n) {
  std::vector<float> x, dy;
  for (size_t i = 0; i < n; ++i) {
    x.push_back(static_cast<float>(cases[i].x));
    dy.push_back(0.5f + 0.25f * static_cast<float>(i));  // a non-trivial upstream gradient
  }
  auto backend = CreateCpuBackend();
  std::vector<float> y(n), dx(n);
  backend->ActivationForward(act, x.data(), y.data(), 1, static_cast<int64_t>(n));
  ASSERT_TRUE(BackwardTakesInput(act));
  backend->ActivationBackward(act, x.data(), dy.data(), dx.data(), 1, static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const double tolerance = 1e-6 * std::max(1.0, std::fabs(cases[i].value));
    EXPECT_NEAR(y[i], cases[i].value, tolerance) << ActivationName(act) << " x=" << cases[i].x;
    EXPECT_NEAR(dx[i], dy[i] * cases[i].derivative, 1e-6 * dy[i])
        << ActivationName(act) << "' x=" << cases[i].x;
  }
}

TEST(GeluTest, ErfFormMatchesPythonReference) {
  ExpectMatchesReference(Activation::kGelu, kErfForm, std::size(kErfForm));
}

TEST(GeluTest, TanhFormMatchesPythonReference) {
  ExpectMatchesReference(Activation::kGeluTanh, kTanhForm, std::size(kTanhForm));
}

TEST(GeluTest, NamesAndBackwardThroughInput) {
  EXPECT_EQ(ActivationName(Activation::kGelu), "gelu");
  EXPECT_EQ(ActivationName(Activation::kGeluTanh), "gelu_approximate");
  EXPECT_FALSE(BackwardTakesInput(Activation::kRelu));
  EXPECT_FALSE(BackwardTakesInput(Activation::kSoftmax));
}

TEST(GeluTest, SaturatesWithoutNanAndWorksInPlace) {
  for (Activation act : {Activation::kGelu, Activation::kGeluTanh}) {
    const std::vector<float> x = {-1e30f, -50.0f, 50.0f, 1e30f, 3.0e38f};
    std::vector<float> y = x;
    auto backend = CreateCpuBackend();
    backend->ActivationForward(act, y.data(), y.data(), 1, 5);  // in place
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_EQ(y[2], 50.0f);
    EXPECT_EQ(y[3], 1e30f);
    std::vector<float> d(5, 2.0f);
    backend->ActivationBackward(act, x.data(), d.data(), d.data(), 1, 5);  // in place
    EXPECT_EQ(d, (std::vector<float>{0.0f, 0.0f, 2.0f, 2.0f, 2.0f})) << ActivationName(act);
  }
}

// The derivative against central finite differences of the forward, in float.
TEST(GeluTest, BackwardMatchesFiniteDifferences) {
  auto backend = CreateCpuBackend();
  for (Activation act : {Activation::kGelu, Activation::kGeluTanh}) {
    for (float x = -4.0f; x <= 4.0f; x += 0.37f) {
      const float h = 1e-2f;
      float up = x + h, down = x - h, one = 1.0f, grad = 0.0f;
      backend->ActivationForward(act, &up, &up, 1, 1);
      backend->ActivationForward(act, &down, &down, 1, 1);
      backend->ActivationBackward(act, &x, &one, &grad, 1, 1);
      EXPECT_NEAR(grad, (up - down) / (2 * h), 2e-3) << ActivationName(act) << " x=" << x;
    }
  }
}

}  // namespace
}  // namespace shardtrain::kernels
