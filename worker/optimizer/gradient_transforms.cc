#include "worker/optimizer/gradient_transforms.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace shardtrain::optimizer {
namespace {

float SumOfSquares(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(sum);
}

// Keras BaseOptimizer._clip_by_norm: g * c / max(||g||, c), in float32.
void ClipByNorm(float clip_norm, float* g, int64_t n) {
  const float l2sum = SumOfSquares(g, n);
  const float l2norm = l2sum > 0.0f ? std::sqrt(l2sum) : l2sum;
  const float denominator = std::max(l2norm, clip_norm);
  for (int64_t i = 0; i < n; ++i) g[i] = (g[i] * clip_norm) / denominator;
}

// Keras clip_by_global_norm: scale = c * min(1 / norm, 1 / c), NaN when the
// norm is not finite.
void ClipByGlobalNorm(float clip_norm, const std::vector<model::ParameterSpan>& variables,
                      float* grads) {
  float squared_norm = 0.0f;
  for (const model::ParameterSpan& v : variables) {
    squared_norm += SumOfSquares(grads + v.offset, v.size);
  }
  const float norm = std::sqrt(squared_norm);
  const float scale = clip_norm * std::min(1.0f / norm, 1.0f / clip_norm) + (norm - norm);
  for (const model::ParameterSpan& v : variables) {
    float* g = grads + v.offset;
    for (int64_t i = 0; i < v.size; ++i) g[i] *= scale;
  }
}

}  // namespace

StatusOr<GradientClipping> GradientClipping::FromConfig(const config::OptimizerConfig& config) {
  GradientClipping clipping;
  int set = 0;
  auto take = [&](bool has, float value, Mode mode, const char* field) -> Status {
    if (!has) return OkStatus();
    ++set;
    if (!(std::isfinite(value) && value > 0.0f)) {
      return InvalidArgumentError(std::string("optimizer.") + field + " must be > 0, got " +
                                  std::to_string(value));
    }
    clipping.mode = mode;
    clipping.threshold = value;
    return OkStatus();
  };
  RETURN_IF_ERROR(take(config.has_clipnorm(), config.clipnorm(), Mode::kNorm, "clipnorm"));
  RETURN_IF_ERROR(take(config.has_clipvalue(), config.clipvalue(), Mode::kValue, "clipvalue"));
  RETURN_IF_ERROR(take(config.has_global_clipnorm(), config.global_clipnorm(), Mode::kGlobalNorm,
                       "global_clipnorm"));
  if (set > 1) {
    return InvalidArgumentError(
        "optimizer: only one of clipnorm, clipvalue and global_clipnorm can be set");
  }
  return clipping;
}

const char* GradientClipping::field() const {
  switch (mode) {
    case Mode::kNone:
      return "";
    case Mode::kNorm:
      return "clipnorm";
    case Mode::kValue:
      return "clipvalue";
    case Mode::kGlobalNorm:
      return "global_clipnorm";
  }
  return "";
}

void ClipGradients(const GradientClipping& clipping,
                   const std::vector<model::ParameterSpan>& variables, float* grads) {
  const float c = clipping.threshold;
  switch (clipping.mode) {
    case GradientClipping::Mode::kNone:
      return;
    case GradientClipping::Mode::kNorm:
      for (const model::ParameterSpan& v : variables) ClipByNorm(c, grads + v.offset, v.size);
      return;
    case GradientClipping::Mode::kValue:
      for (const model::ParameterSpan& v : variables) {
        float* g = grads + v.offset;
        for (int64_t i = 0; i < v.size; ++i) g[i] = std::clamp(g[i], -c, c);
      }
      return;
    case GradientClipping::Mode::kGlobalNorm:
      ClipByGlobalNorm(c, variables, grads);
      return;
  }
}

void ApplyWeightDecay(float weight_decay, float learning_rate,
                      const std::vector<model::ParameterSpan>& spans, float* weights) {
  for (const model::ParameterSpan& span : spans) {
    float* w = weights + span.offset;
    for (int64_t i = 0; i < span.size; ++i) w[i] = w[i] - w[i] * weight_decay * learning_rate;
  }
}

}  // namespace shardtrain::optimizer
