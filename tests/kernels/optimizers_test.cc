// Optimizer updates on the CPU backend against the Keras formulas of
// backend.h evaluated in double, over one and two steps.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/backend.h"

namespace shardtrain::kernels {
namespace {

TEST(AdamTest, OneStepMatchesFormulaInDouble) {
  auto backend = CreateCpuBackend();
  AdamParams p;
  p.learning_rate = 0.01f;
  p.iteration = 3;
  std::vector<float> w = {0.5f, -1.0f, 2.0f, 0.0f};
  const std::vector<float> g = {0.1f, -0.2f, 0.0f, 3.0f};
  std::vector<float> m = {0.01f, 0.02f, -0.03f, 0.0f};
  std::vector<float> v = {0.001f, 0.002f, 0.0005f, 0.0f};
  const auto w0 = w, m0 = m, v0 = v;
  backend->AdamUpdate(p, w.data(), g.data(), m.data(), v.data(), 4);
  const double b1 = p.beta_1, b2 = p.beta_2, eps = p.epsilon, lr = p.learning_rate;
  const double alpha = lr * std::sqrt(1.0 - std::pow(b2, 3.0)) / (1.0 - std::pow(b1, 3.0));
  for (int i = 0; i < 4; ++i) {
    const double mi = b1 * m0[i] + (1.0 - b1) * g[i];
    const double vi = b2 * v0[i] + (1.0 - b2) * g[i] * g[i];
    const double wi = w0[i] - alpha * mi / (std::sqrt(vi) + eps);
    EXPECT_NEAR(m[i], mi, 1e-7 + 1e-6 * std::fabs(mi)) << i;
    EXPECT_NEAR(v[i], vi, 1e-9 + 1e-6 * std::fabs(vi)) << i;
    EXPECT_NEAR(w[i], wi, 1e-6) << i;
  }
  // Element 3 starts from zero slots: m = (1-b1) g, sqrt(v) = sqrt(1-b2) |g|, closed form.
  EXPECT_NEAR(w[3],
              -0.01 * std::sqrt(1.0 - std::pow(b2, 3.0)) / (1.0 - std::pow(b1, 3.0)) * (1.0 - b1) *
                  3.0 / (std::sqrt(1.0 - b2) * 3.0),
              1e-6);
}

TEST(AdamTest, EpsilonIsAddedOutsideTheSqrt) {
  // A large epsilon separates sqrt(v) + eps (Keras) from sqrt(v + eps).
  AdamParams p;
  p.learning_rate = 0.1f;
  p.epsilon = 0.25f;
  float w = 0.0f, m = 0.0f, v = 0.0f;
  const float g = 1.0f;
  CreateCpuBackend()->AdamUpdate(p, &w, &g, &m, &v, 1);
  const double b1 = p.beta_1, b2 = p.beta_2;
  const double alpha = 0.1 * std::sqrt(1.0 - b2) / (1.0 - b1);
  EXPECT_NEAR(w, -alpha * (1.0 - b1) / (std::sqrt(1.0 - b2) + 0.25), 1e-7);
}

// The vectorized kernel (whichever clone this CPU picks) must equal plain
// scalar float arithmetic bit for bit: no FMA contraction, no reordering.
// The reference below is compiled for baseline x86-64, which has no FMA.
TEST(AdamTest, VectorizedKernelIsBitExactWithScalarFloatArithmetic) {
  const int64_t n = 100003;  // odd: exercises vector body and scalar tail
  std::vector<float> w(n), g(n), m(n), v(n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = std::sin(0.37f * static_cast<float>(i));
    g[i] = std::cos(0.11f * static_cast<float>(i)) * 1e-2f;
    m[i] = g[i] * 0.3f;
    v[i] = g[i] * g[i] * 0.7f;
  }
  std::vector<float> w_ref = w, m_ref = m, v_ref = v;
  AdamParams params;
  params.iteration = 3;
  CreateCpuBackend()->AdamUpdate(params, w.data(), g.data(), m.data(), v.data(), n);
  // The step size is computed in double from the float hyper-parameters, as the kernel does.
  const double b1_power = std::pow(static_cast<double>(0.9f), 3.0);
  const double b2_power = std::pow(static_cast<double>(0.999f), 3.0);
  const float alpha = static_cast<float>(static_cast<double>(1e-3f) * std::sqrt(1.0 - b2_power) /
                                         (1.0 - b1_power));
  const float one_minus_b1 = 1.0f - 0.9f, one_minus_b2 = 1.0f - 0.999f;
  for (int64_t i = 0; i < n; ++i) {
    const float mi = m_ref[i] + (g[i] - m_ref[i]) * one_minus_b1;
    const float vi = v_ref[i] + (g[i] * g[i] - v_ref[i]) * one_minus_b2;
    const float wi = w_ref[i] - (mi * alpha) / (std::sqrt(vi) + 1e-7f);
    ASSERT_EQ(m[i], mi) << "m[" << i << "]";
    ASSERT_EQ(v[i], vi) << "v[" << i << "]";
    ASSERT_EQ(w[i], wi) << "w[" << i << "]";
  }
}

TEST(AdamTest, ParallelPathMatchesSmallCalls) {
  auto backend = CreateCpuBackend();
  AdamParams p;
  p.iteration = 7;
  const int64_t n = 200003;  // above the OpenMP threshold, odd length
  std::vector<float> w(n), g(n), m(n), v(n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = std::sin(0.001f * static_cast<float>(i));
    g[i] = std::cos(0.003f * static_cast<float>(i));
    m[i] = 0.1f * g[i];
    v[i] = 0.01f * g[i] * g[i] + 1e-4f;
  }
  auto w1 = w, m1 = m, v1 = v;
  backend->AdamUpdate(p, w.data(), g.data(), m.data(), v.data(), n);
  for (int64_t i = 0; i < n; i += 997) {
    backend->AdamUpdate(p, &w1[i], &g[i], &m1[i], &v1[i], 1);
    ASSERT_FLOAT_EQ(w[i], w1[i]) << i;
    ASSERT_FLOAT_EQ(m[i], m1[i]) << i;
    ASSERT_FLOAT_EQ(v[i], v1[i]) << i;
  }
}

struct SgdCase {
  float momentum;
  bool nesterov;
  float w1, w2;  // expected after steps with g = 0.5 then g = -0.2 (lr 0.1, w0 = 1)
};

TEST(SgdTest, TwoStepsByHand) {
  // plain: 1 - 0.05 = 0.95; 0.95 + 0.02 = 0.97
  // momentum 0.9: v1 = -0.05, w1 = 0.95; v2 = -0.045 + 0.02 = -0.025, w2 = 0.925
  // Nesterov: w1 = 1 + 0.9·(-0.05) - 0.05 = 0.905; w2 = 0.905 + 0.9·(-0.025) + 0.02 = 0.9025
  const SgdCase cases[] = {
      {0.0f, false, 0.95f, 0.97f}, {0.9f, false, 0.95f, 0.925f}, {0.9f, true, 0.905f, 0.9025f}};
  auto backend = CreateCpuBackend();
  for (const SgdCase& c : cases) {
    SgdParams p;
    p.learning_rate = 0.1f;
    p.momentum = c.momentum;
    p.nesterov = c.nesterov;
    float w = 1.0f, velocity = 0.0f;
    float* vel = c.momentum > 0.0f ? &velocity : nullptr;
    const float g1 = 0.5f, g2 = -0.2f;
    backend->SgdUpdate(p, &w, &g1, vel, 1);
    EXPECT_NEAR(w, c.w1, 1e-6) << c.momentum << " " << c.nesterov;
    backend->SgdUpdate(p, &w, &g2, vel, 1);
    EXPECT_NEAR(w, c.w2, 1e-6) << c.momentum << " " << c.nesterov;
    if (c.momentum > 0.0f) {
      EXPECT_NEAR(velocity, -0.025, 1e-7);
    }
  }
}

TEST(RmspropTest, TwoStepsWithAndWithoutMomentum) {
  auto backend = CreateCpuBackend();
  for (float mu : {0.0f, 0.5f}) {
    RmspropParams p;
    p.learning_rate = 0.01f;
    p.rho = 0.9f;
    p.momentum = mu;
    float w = 1.0f, ms = 0.0f, mom = 0.0f;
    const float g[2] = {0.5f, -0.2f};
    double rw = 1.0, rms = 0.0, rmom = 0.0;
    for (float gi : g) {
      backend->RmspropUpdate(p, &w, &gi, &ms, mu > 0.0f ? &mom : nullptr, 1);
      rms = 0.9 * rms + 0.1 * gi * gi;
      const double inc = 0.01 * gi / std::sqrt(rms + static_cast<double>(p.epsilon));
      if (mu > 0.0f) {
        rmom = mu * rmom + inc;
        rw -= rmom;
      } else {
        rw -= inc;
      }
      EXPECT_NEAR(ms, rms, 1e-8) << mu;
      EXPECT_NEAR(w, rw, 1e-6) << mu;
      if (mu > 0.0f) {
        EXPECT_NEAR(mom, rmom, 1e-8);
      }
    }
  }
  // First step without momentum by hand: ms = 0.025, w = 1 - 0.005 / sqrt(0.025 + 1e-7).
  RmspropParams p;
  p.learning_rate = 0.01f;
  float w = 1.0f, ms = 0.0f;
  const float g = 0.5f;
  backend->RmspropUpdate(p, &w, &g, &ms, nullptr, 1);
  EXPECT_NEAR(w, 1.0 - 0.005 / std::sqrt(0.025 + 1e-7), 1e-6);
}

}  // namespace
}  // namespace shardtrain::kernels
