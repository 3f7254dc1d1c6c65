// Numeric-gradient checks for Model tests: every trainable parameter's
// Backward gradient against central differences of a loss that is linear in
// the model's output, plus the small helpers those tests share (a model from
// textproto, seeded uniform values). Header-only; test code.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "worker/job_config.h"
#include "worker/model/model.h"

namespace shardtrain::gradient_check {

inline config::ModelConfig ParseModel(const std::string& text) {
  auto job = ParseJobConfig("model { " + text + " }", "test");
  EXPECT_TRUE(job.ok()) << job.status();
  return job->model();
}

// The model of textproto `text`; null (and a test failure) when it is refused.
inline std::unique_ptr<model::Model> CreateModel(const std::string& text, int64_t max_batch) {
  auto model = model::Model::Create(ParseModel(text), max_batch, kernels::SharedCpuBackend());
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

// `n` values uniform in [-scale, scale), from Philox stream `seed`.
inline std::vector<float> Uniform(uint64_t seed, int64_t n, float scale) {
  std::vector<float> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    values[static_cast<size_t>(i)] =
        scale * (2.0f * BitsToUniform(PhiloxBits(seed, 0, 0, static_cast<uint64_t>(i))) - 1.0f);
  }
  return values;
}

// A loss that is linear in the output: L = sum_i r_i y_i, so dL/dy = r.
inline double LinearLoss(const float* y, const std::vector<float>& r) {
  double loss = 0;
  for (size_t i = 0; i < r.size(); ++i) loss += static_cast<double>(r[i]) * y[i];
  return loss;
}

// Every trainable parameter's Backward gradient against (L(p + h) - L(p - h))
// / 2h, each Forward in `mode` (training, with fixed seed and step, so a
// Dropout draws the same mask every time).
inline void ExpectGradientsMatchCentralDifferences(model::Model& model, const std::vector<float>& x,
                                                   int64_t batch, float h, double tolerance,
                                                   const model::ForwardMode& mode = {true, 1, 0,
                                                                                     0}) {
  auto backend = kernels::CreateCpuBackend();
  const std::vector<float> r = Uniform(9, batch * model.output_size(), 1.0f);
  std::vector<float> dy = r;
  model.Forward(*backend, x.data(), batch, mode, false);
  model.Backward(*backend, x.data(), dy.data(), batch, false);
  model::ParameterStore& params = model.parameters();
  const std::vector<float> analytic(params.grads(), params.grads() + params.size());
  int checked = 0;
  double worst = 0;  // the largest |analytic - numeric| / (1 + |numeric|)
  for (const model::VariableInfo& v : params.variables()) {
    if (!v.trainable) continue;
    for (int64_t i = 0; i < v.shape.num_elements(); ++i, ++checked) {
      float& p = params.params()[v.offset + i];
      const float saved = p;
      p = saved + h;
      const double up = LinearLoss(model.Forward(*backend, x.data(), batch, mode, false), r);
      p = saved - h;
      const double down = LinearLoss(model.Forward(*backend, x.data(), batch, mode, false), r);
      p = saved;
      const double numeric = (up - down) / (2.0 * static_cast<double>(h));
      const double expected = analytic[static_cast<size_t>(v.offset + i)];
      ASSERT_NEAR(expected, numeric, tolerance * (1.0 + std::fabs(numeric)))
          << v.name << "[" << i << "]";
      worst = std::max(worst, std::fabs(expected - numeric) / (1.0 + std::fabs(numeric)));
    }
  }
  EXPECT_GT(checked, 0);
  std::printf("%d gradients checked, worst relative deviation %.2e\n", checked, worst);
}

}  // namespace shardtrain::gradient_check
