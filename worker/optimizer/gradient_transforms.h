// Gradient clipping and decoupled weight decay as Keras 3's BaseOptimizer
// applies them before an update (BaseOptimizer._clip_gradients and
// _apply_weight_decay): per-variable clipnorm, clipvalue, or global_clipnorm
// over all trainable variables, then w -= w * weight_decay * learning_rate.
// Both work in place on host floats (the Optimizer refuses them on a backend
// whose memory the host cannot read), on the trainable variables given as spans
// of the flat parameter/gradient buffers. The norms are summed in double in a
// fixed order, so every rank computes the same bits from the same (allreduced)
// gradient.
#pragma once

#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"
#include "worker/model/parameter_store.h"

namespace shardtrain::optimizer {

struct GradientClipping {
  enum class Mode { kNone, kNorm, kValue, kGlobalNorm };
  Mode mode = Mode::kNone;
  float threshold = 0.0f;

  // From optimizer.clipnorm / clipvalue / global_clipnorm. InvalidArgument when
  // more than one is set (as Keras) or a value is not finite and > 0.
  static StatusOr<GradientClipping> FromConfig(const config::OptimizerConfig& config);
  // The config field that set the mode ("clipnorm", "clipvalue",
  // "global_clipnorm"; "" for kNone).
  const char* field() const;
};

// Clips the gradients of `variables` (each one trainable variable) in place.
void ClipGradients(const GradientClipping& clipping,
                   const std::vector<model::ParameterSpan>& variables, float* grads);

// w -= w * weight_decay * learning_rate on each span of `weights`.
void ApplyWeightDecay(float weight_decay, float learning_rate,
                      const std::vector<model::ParameterSpan>& spans, float* weights);

}  // namespace shardtrain::optimizer
