// Learning-rate schedules, gradient clipping and AdamW weight decay
// (worker/optimizer) against values computed independently from Keras 3's
// formulas by tests/worker/optimizer_reference.py (double precision; the
// optimizer computes in float32 as Keras does, hence the relative tolerance).
#include <gtest/gtest.h>

#include <vector>

#include "google/protobuf/text_format.h"
#include "kernels/backend.h"
#include "worker/model/parameter_store.h"
#include "worker/optimizer/gradient_transforms.h"
#include "worker/optimizer/learning_rate_schedule.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::optimizer {
namespace {

config::OptimizerConfig Parse(const std::string& text) {
  config::OptimizerConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

void ExpectRates(const std::string& text, const std::vector<int64_t>& steps,
                 const std::vector<double>& expected) {
  auto schedule = LearningRateSchedule::Create(Parse(text), 1e-3f);
  ASSERT_TRUE(schedule.ok()) << schedule.status().ToString();
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_NEAR(schedule->At(steps[i]), expected[i], 1e-6 * expected[i] + 1e-9)
        << text << " at step " << steps[i];
  }
}

void ExpectFloats(const float* actual, const std::vector<double>& expected) {
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 2e-6 * std::abs(expected[i]) + 1e-9) << "element " << i;
  }
}

const std::vector<int64_t> kSteps = {0, 1, 5, 10, 15, 37};

TEST(LearningRateScheduleTest, ExponentialDecay) {
  ExpectRates(
      "learning_rate_schedule { exponential_decay { initial_learning_rate: 0.1 "
      "decay_steps: 10 decay_rate: 0.5 } }",
      kSteps, {0.1, 0.0933032992, 0.0707106781, 0.05, 0.0353553391, 0.00769465258});
  ExpectRates(
      "learning_rate_schedule { exponential_decay { initial_learning_rate: 0.1 "
      "decay_steps: 10 decay_rate: 0.5 staircase: true } }",
      kSteps, {0.1, 0.1, 0.1, 0.05, 0.05, 0.0125});
}

TEST(LearningRateScheduleTest, InverseTimeDecay) {
  ExpectRates(
      "learning_rate_schedule { inverse_time_decay { initial_learning_rate: 0.1 "
      "decay_steps: 5 decay_rate: 0.5 } }",
      kSteps, {0.1, 0.0909090909, 0.0666666667, 0.05, 0.04, 0.0212765957});
  ExpectRates(
      "learning_rate_schedule { inverse_time_decay { initial_learning_rate: 0.1 "
      "decay_steps: 5 decay_rate: 0.5 staircase: true } }",
      kSteps, {0.1, 0.1, 0.0666666667, 0.05, 0.04, 0.0222222222});
}

TEST(LearningRateScheduleTest, PiecewiseConstantDecay) {
  ExpectRates(
      "learning_rate_schedule { piecewise_constant_decay { boundaries: [3, 7] "
      "values: [1.0, 0.5, 0.1] } }",
      {0, 3, 4, 7, 8, 100}, {1, 1, 0.5, 0.5, 0.1, 0.1});
}

TEST(LearningRateScheduleTest, CosineDecayWithAndWithoutWarmup) {
  ExpectRates(
      "learning_rate_schedule { cosine_decay { initial_learning_rate: 0.1 "
      "decay_steps: 10 alpha: 0.1 } }",
      {0, 3, 5, 10, 20}, {0.1, 0.0814503364, 0.055, 0.01, 0.01});
  ExpectRates(
      "learning_rate_schedule { cosine_decay { initial_learning_rate: 0 decay_steps: 8 "
      "warmup_target: 0.2 warmup_steps: 4 } }",
      {0, 1, 2, 4, 6, 12, 20}, {0, 0.05, 0.1, 0.2, 0.170710678, 0, 0});
}

TEST(LearningRateScheduleTest, ConstantRateAndKerasDefault) {
  ExpectRates("learning_rate: 0.25", {0, 1000}, {0.25, 0.25});
  ExpectRates("", {0}, {1e-3});
}

TEST(LearningRateScheduleTest, BadConfigsAreInvalidArgument) {
  for (const char* text : {
           "learning_rate_schedule { exponential_decay { initial_learning_rate: 0.1 decay_rate: "
           "0.5 } }",
           "learning_rate_schedule { inverse_time_decay { initial_learning_rate: 0.1 decay_steps: "
           "-1 } }",
           "learning_rate_schedule { cosine_decay { initial_learning_rate: 0.1 decay_steps: 0 } }",
           "learning_rate_schedule { cosine_decay { initial_learning_rate: 0.1 decay_steps: 5 "
           "alpha: 2 } }",
           "learning_rate_schedule { piecewise_constant_decay { boundaries: [3] values: [1.0] } }",
           "learning_rate_schedule { piecewise_constant_decay { boundaries: [3, 3] values: [1, 2, "
           "3] } }",
           "learning_rate_schedule { piecewise_constant_decay { boundaries: [3] values: [1, -2] } "
           "}",
           "learning_rate_schedule { }",
           "learning_rate: 0.1 learning_rate_schedule { exponential_decay { initial_learning_rate: "
           "0.1 "
           "decay_steps: 10 decay_rate: 0.5 } }",
       }) {
    auto schedule = LearningRateSchedule::Create(Parse(text), 1e-3f);
    ASSERT_FALSE(schedule.ok()) << text;
    EXPECT_EQ(schedule.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(GradientClippingTest, BadConfigsAreInvalidArgument) {
  for (const char* text :
       {"clipnorm: 1 clipvalue: 1", "clipvalue: 1 global_clipnorm: 2", "clipnorm: 0",
        "global_clipnorm: -1", "clipvalue: inf", "weight_decay: -0.1", "adamw { beta_1: 1.5 }"}) {
    auto opt = Optimizer::Create(Parse(text), 4);
    ASSERT_FALSE(opt.ok()) << text;
    EXPECT_EQ(opt.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

// Gradients of two variables: a = [3, 4] (norm 5) and b = [1, 2, 2] (norm 3).
std::vector<float> TwoVariableGradients() { return {3, 4, 1, 2, 2}; }
const std::vector<model::ParameterSpan> kTwoVariables = {{0, 2}, {2, 3}};

TEST(GradientClippingTest, ClipnormClipsEachVariable) {
  std::vector<float> g = TwoVariableGradients();
  ClipGradients({GradientClipping::Mode::kNorm, 2.0f}, kTwoVariables, g.data());
  ExpectFloats(g.data(), {1.2, 1.6, 0.666666667, 1.33333333, 1.33333333});
}

TEST(GradientClippingTest, GlobalClipnormScalesAllVariablesTogether) {
  std::vector<float> g = TwoVariableGradients();
  ClipGradients({GradientClipping::Mode::kGlobalNorm, 2.0f}, kTwoVariables, g.data());
  ExpectFloats(g.data(), {1.02899151, 1.37198868, 0.34299717, 0.685994341, 0.685994341});
}

TEST(GradientClippingTest, ClipvalueClampsEachElement) {
  std::vector<float> g = {3.0f, -4.0f, 1.0f, -2.0f, 0.5f};
  ClipGradients({GradientClipping::Mode::kValue, 1.5f}, {{0, 5}}, g.data());
  ExpectFloats(g.data(), {1.5, -1.5, 1, -1.5, 0.5});
}

TEST(GradientClippingTest, ClipnormUsesTheStoresVariablesNotItsMergedSpans) {
  model::ParameterStore params;
  params.AddVariable("a", Shape{2});
  params.AddVariable("b", Shape{3});
  params.Finalize();
  auto opt = Optimizer::Create(Parse("sgd { } learning_rate: 1 clipnorm: 2"), params);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  auto backend = kernels::CreateCpuBackend();
  std::vector<float> w(5, 0.0f);
  const std::vector<float> g = TwoVariableGradients();
  (*opt)->Apply(*backend, w.data(), g.data());
  ExpectFloats(w.data(), {-1.2, -1.6, -0.666666667, -1.33333333, -1.33333333});
  EXPECT_EQ(g, TwoVariableGradients());  // the caller's gradient is left as it was
}

TEST(OptimizerScheduleTest, AdamWDecaysWeightsBeforeTheAdamStep) {
  auto opt = Optimizer::Create(Parse("learning_rate: 0.01 adamw { } weight_decay: 0.1"), 2);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  EXPECT_EQ((*opt)->keras_class_name(), "AdamW");
  auto backend = kernels::CreateCpuBackend();
  std::vector<float> w = {1.0f, -2.0f};
  const std::vector<float> g1 = {0.5f, 0.25f}, g2 = {-1.0f, 2.0f};
  (*opt)->Apply(*backend, w.data(), g1.data());
  (*opt)->Apply(*backend, w.data(), g2.data());
  ExpectFloats(w.data(), {0.991672088, -2.01420652});
}

TEST(OptimizerScheduleTest, AdamWDefaultWeightDecayIsKeras) {
  auto opt = Optimizer::Create(Parse("adamw { }"), 2);
  ASSERT_TRUE(opt.ok());
  EXPECT_FLOAT_EQ((*opt)->weight_decay(), 0.004f);
  auto adam = Optimizer::Create(Parse("adam { }"), 2);
  ASSERT_TRUE(adam.ok());
  EXPECT_EQ((*adam)->weight_decay(), 0.0f);
}

TEST(OptimizerScheduleTest, SgdFollowsTheScheduleAtEachIteration) {
  auto opt = Optimizer::Create(
      Parse("sgd { } global_clipnorm: 1 learning_rate_schedule { exponential_decay { "
            "initial_learning_rate: 0.1 decay_steps: 2 decay_rate: 0.5 } }"),
      2);
  ASSERT_TRUE(opt.ok()) << opt.status().ToString();
  auto backend = kernels::CreateCpuBackend();
  std::vector<float> w = {0.0f, 0.0f};
  const std::vector<float> g = {3.0f, 4.0f};
  for (int i = 0; i < 3; ++i) (*opt)->Apply(*backend, w.data(), g.data());
  ExpectFloats(w.data(), {-0.132426407, -0.176568542});
  EXPECT_NEAR((*opt)->learning_rate(), 0.0353553391, 1e-8);
  // A resumed optimizer (iterations restored) continues the schedule.
  auto resumed = Optimizer::Create(
      Parse("sgd { } learning_rate_schedule { exponential_decay { initial_learning_rate: 0.1 "
            "decay_steps: 2 decay_rate: 0.5 } }"),
      2);
  ASSERT_TRUE(resumed.ok());
  (*resumed)->set_iterations(3);
  EXPECT_EQ((*resumed)->learning_rate(), (*opt)->learning_rate());
}

TEST(OptimizerScheduleTest, DefaultAdamMatchesTheKernelBitwise) {
  auto opt = Optimizer::Create(Parse("adam { }"), 3);
  ASSERT_TRUE(opt.ok());
  auto backend = kernels::CreateCpuBackend();
  std::vector<float> w = {0.3f, -0.7f, 1.1f}, reference = w, m(3, 0.0f), v(3, 0.0f);
  const std::vector<float> g = {0.5f, -2.0f, 0.01f};
  for (int64_t t = 1; t <= 3; ++t) {
    (*opt)->Apply(*backend, w.data(), g.data());
    kernels::AdamParams params;
    params.iteration = t;
    backend->AdamUpdate(params, reference.data(), g.data(), m.data(), v.data(), 3);
  }
  EXPECT_EQ(w, reference);
  EXPECT_EQ((*opt)->Describe(),
            "adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)");
}

}  // namespace
}  // namespace shardtrain::optimizer
