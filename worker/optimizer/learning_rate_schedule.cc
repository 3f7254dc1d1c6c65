#include "worker/optimizer/learning_rate_schedule.h"

#include <algorithm>
#include <cmath>

namespace shardtrain::optimizer {
namespace {

Status CheckRate(const std::string& field, float value) {
  if (std::isfinite(value) && value >= 0.0f) return OkStatus();
  return InvalidArgumentError("optimizer.learning_rate_schedule." + field +
                              " must be a finite rate >= 0, got " + std::to_string(value));
}

Status CheckDecaySteps(const std::string& schedule, int64_t decay_steps) {
  if (decay_steps > 0) return OkStatus();
  return InvalidArgumentError("optimizer.learning_rate_schedule." + schedule +
                              ".decay_steps must be > 0, got " + std::to_string(decay_steps));
}

// decay_rate: finite and > 0 (exponential: a negative base to a fractional
// power is NaN) or >= 0 (inverse time: a negative rate divides by zero).
Status CheckDecayRate(const std::string& field, float value, bool zero_allowed) {
  if (std::isfinite(value) && (value > 0.0f || (zero_allowed && value == 0.0f))) return OkStatus();
  return InvalidArgumentError("optimizer.learning_rate_schedule." + field + " must be finite and " +
                              (zero_allowed ? ">= 0" : "> 0") + ", got " + std::to_string(value));
}

Status CheckPiecewise(const config::PiecewiseConstantDecay& c) {
  if (c.boundaries_size() == 0 || c.values_size() != c.boundaries_size() + 1) {
    return InvalidArgumentError(
        "optimizer.learning_rate_schedule.piecewise_constant_decay needs at least one boundary "
        "and one more value than boundaries; got " +
        std::to_string(c.boundaries_size()) + " boundaries and " + std::to_string(c.values_size()) +
        " values");
  }
  for (int i = 1; i < c.boundaries_size(); ++i) {
    if (c.boundaries(i) <= c.boundaries(i - 1)) {
      return InvalidArgumentError(
          "optimizer.learning_rate_schedule.piecewise_constant_decay.boundaries must be strictly "
          "increasing: boundaries[" +
          std::to_string(i) + "] = " + std::to_string(c.boundaries(i)) + " follows " +
          std::to_string(c.boundaries(i - 1)));
    }
  }
  for (int i = 0; i < c.values_size(); ++i) {
    RETURN_IF_ERROR(
        CheckRate("piecewise_constant_decay.values[" + std::to_string(i) + "]", c.values(i)));
  }
  return OkStatus();
}

Status CheckCosine(const config::CosineDecay& c) {
  RETURN_IF_ERROR(CheckRate("cosine_decay.initial_learning_rate", c.initial_learning_rate()));
  RETURN_IF_ERROR(CheckDecaySteps("cosine_decay", c.decay_steps()));
  if (!(c.alpha() >= 0.0f && c.alpha() <= 1.0f)) {
    return InvalidArgumentError(
        "optimizer.learning_rate_schedule.cosine_decay.alpha must be in "
        "[0, 1], got " +
        std::to_string(c.alpha()));
  }
  if (c.warmup_steps() < 0) {
    return InvalidArgumentError(
        "optimizer.learning_rate_schedule.cosine_decay.warmup_steps must be >= 0, got " +
        std::to_string(c.warmup_steps()));
  }
  if (c.has_warmup_target()) {
    RETURN_IF_ERROR(CheckRate("cosine_decay.warmup_target", c.warmup_target()));
  }
  return OkStatus();
}

Status CheckSchedule(const config::LearningRateSchedule& s) {
  switch (s.kind_case()) {
    case config::LearningRateSchedule::kExponentialDecay: {
      const auto& c = s.exponential_decay();
      RETURN_IF_ERROR(
          CheckRate("exponential_decay.initial_learning_rate", c.initial_learning_rate()));
      RETURN_IF_ERROR(CheckDecayRate("exponential_decay.decay_rate", c.decay_rate(), false));
      return CheckDecaySteps("exponential_decay", c.decay_steps());
    }
    case config::LearningRateSchedule::kInverseTimeDecay: {
      const auto& c = s.inverse_time_decay();
      RETURN_IF_ERROR(
          CheckRate("inverse_time_decay.initial_learning_rate", c.initial_learning_rate()));
      RETURN_IF_ERROR(CheckDecayRate("inverse_time_decay.decay_rate", c.decay_rate(), true));
      return CheckDecaySteps("inverse_time_decay", c.decay_steps());
    }
    case config::LearningRateSchedule::kPiecewiseConstantDecay:
      return CheckPiecewise(s.piecewise_constant_decay());
    case config::LearningRateSchedule::kCosineDecay:
      return CheckCosine(s.cosine_decay());
    case config::LearningRateSchedule::KIND_NOT_SET:
      return InvalidArgumentError(
          "optimizer.learning_rate_schedule is set but names no schedule (exponential_decay, "
          "piecewise_constant_decay, cosine_decay or inverse_time_decay)");
  }
  return OkStatus();
}

// Keras CosineDecay._decay_function, in float32.
float CosineDecayed(float step, float decay_steps, float from_rate, float alpha) {
  const float completed_fraction = step / decay_steps;
  const float pi = static_cast<float>(M_PI);
  const float cosine_decayed = 0.5f * (1.0f + std::cos(pi * completed_fraction));
  const float decayed = (1.0f - alpha) * cosine_decayed + alpha;
  return from_rate * decayed;
}

float CosineAt(const config::CosineDecay& c, int64_t step) {
  const float decay_steps = static_cast<float>(c.decay_steps());
  float t = static_cast<float>(step);
  if (!c.has_warmup_target()) {
    return CosineDecayed(std::min(t, decay_steps), decay_steps, c.initial_learning_rate(),
                         c.alpha());
  }
  const float warmup_steps = static_cast<float>(c.warmup_steps());
  t = std::min(t, decay_steps + warmup_steps);
  if (t < warmup_steps) {
    const float completed_fraction = t / warmup_steps;
    const float delta = c.warmup_target() - c.initial_learning_rate();
    return delta * completed_fraction + c.initial_learning_rate();
  }
  return CosineDecayed(t - warmup_steps, decay_steps, c.warmup_target(), c.alpha());
}

float PiecewiseAt(const config::PiecewiseConstantDecay& c, int64_t step) {
  int i = 0;
  while (i < c.boundaries_size() && step > c.boundaries(i)) ++i;
  return c.values(i);
}

}  // namespace

StatusOr<LearningRateSchedule> LearningRateSchedule::Create(const config::OptimizerConfig& config,
                                                            float default_rate) {
  LearningRateSchedule schedule;
  const float lr = config.learning_rate();
  if (lr < 0.0f || !std::isfinite(lr)) {
    return InvalidArgumentError("optimizer.learning_rate must be positive, got " +
                                std::to_string(lr));
  }
  schedule.constant_ = lr > 0.0f ? lr : default_rate;
  if (!config.has_learning_rate_schedule()) return schedule;
  if (lr > 0.0f) {
    return InvalidArgumentError(
        "optimizer: set either learning_rate (or --learning-rate) or learning_rate_schedule, not "
        "both (a schedule carries its own initial_learning_rate)");
  }
  RETURN_IF_ERROR(CheckSchedule(config.learning_rate_schedule()));
  schedule.config_ = config.learning_rate_schedule();
  return schedule;
}

float LearningRateSchedule::At(int64_t step) const {
  switch (config_.kind_case()) {
    case config::LearningRateSchedule::kExponentialDecay: {
      const auto& c = config_.exponential_decay();
      float p = static_cast<float>(step) / static_cast<float>(c.decay_steps());
      if (c.staircase()) p = std::floor(p);
      return c.initial_learning_rate() * std::pow(c.decay_rate(), p);
    }
    case config::LearningRateSchedule::kInverseTimeDecay: {
      const auto& c = config_.inverse_time_decay();
      float p = static_cast<float>(step) / static_cast<float>(c.decay_steps());
      if (c.staircase()) p = std::floor(p);
      return c.initial_learning_rate() / (1.0f + c.decay_rate() * p);
    }
    case config::LearningRateSchedule::kPiecewiseConstantDecay:
      return PiecewiseAt(config_.piecewise_constant_decay(), step);
    case config::LearningRateSchedule::kCosineDecay:
      return CosineAt(config_.cosine_decay(), step);
    case config::LearningRateSchedule::KIND_NOT_SET:
      break;
  }
  return constant_;
}

std::string LearningRateSchedule::KerasClassName() const {
  switch (config_.kind_case()) {
    case config::LearningRateSchedule::kExponentialDecay:
      return "ExponentialDecay";
    case config::LearningRateSchedule::kInverseTimeDecay:
      return "InverseTimeDecay";
    case config::LearningRateSchedule::kPiecewiseConstantDecay:
      return "PiecewiseConstantDecay";
    case config::LearningRateSchedule::kCosineDecay:
      return "CosineDecay";
    case config::LearningRateSchedule::KIND_NOT_SET:
      break;
  }
  return "";
}

}  // namespace shardtrain::optimizer
