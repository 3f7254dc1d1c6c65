#include "worker/optimizer/keras_optimizer_json.h"

#include <string>
#include <vector>

namespace shardtrain::optimizer {
namespace {

using Json = nlohmann::ordered_json;

// ExponentialDecay and InverseTimeDecay share their fields.
template <typename Decay>
Json DecayConfig(const Decay& c) {
  return Json{{"initial_learning_rate", c.initial_learning_rate()},
              {"decay_steps", c.decay_steps()},
              {"decay_rate", c.decay_rate()},
              {"staircase", c.staircase()}};
}

// The schedule's get_config(); `name` is Keras 3's default name (tf.keras 2
// writes null).
Json ScheduleConfig(const config::LearningRateSchedule& schedule, bool keras3,
                    std::string* class_name) {
  Json config;
  std::string name;
  switch (schedule.kind_case()) {
    case config::LearningRateSchedule::kExponentialDecay:
      *class_name = name = "ExponentialDecay";
      config = DecayConfig(schedule.exponential_decay());
      break;
    case config::LearningRateSchedule::kInverseTimeDecay:
      *class_name = name = "InverseTimeDecay";
      config = DecayConfig(schedule.inverse_time_decay());
      break;
    case config::LearningRateSchedule::kPiecewiseConstantDecay: {
      const auto& c = schedule.piecewise_constant_decay();
      *class_name = "PiecewiseConstantDecay";
      name = "PiecewiseConstant";
      config["boundaries"] = std::vector<int64_t>(c.boundaries().begin(), c.boundaries().end());
      config["values"] = std::vector<float>(c.values().begin(), c.values().end());
      break;
    }
    case config::LearningRateSchedule::kCosineDecay: {
      const auto& c = schedule.cosine_decay();
      *class_name = name = "CosineDecay";
      config["initial_learning_rate"] = c.initial_learning_rate();
      config["decay_steps"] = c.decay_steps();
      config["alpha"] = c.alpha();
      config["name"] = keras3 ? Json(name) : Json(nullptr);
      config["warmup_target"] = c.has_warmup_target() ? Json(c.warmup_target()) : Json(nullptr);
      config["warmup_steps"] = c.warmup_steps();
      return config;
    }
    case config::LearningRateSchedule::KIND_NOT_SET:
      break;
  }
  config["name"] = keras3 ? Json(name) : Json(nullptr);
  return config;
}

// name, learning_rate (a number or a serialized schedule), then the base
// optimizer's weight decay and clipping fields that are set.
Json BaseConfig(const config::OptimizerConfig& optimizer, const std::string& name,
                float default_rate, float default_weight_decay, bool keras3) {
  Json config;
  config["name"] = name;
  const float lr = optimizer.learning_rate();
  if (optimizer.has_learning_rate_schedule()) {
    config["learning_rate"] = KerasScheduleJson(optimizer.learning_rate_schedule(), keras3);
  } else {
    config["learning_rate"] = lr > 0 ? lr : default_rate;
  }
  if (optimizer.has_weight_decay()) {
    config["weight_decay"] = optimizer.weight_decay();
  } else if (default_weight_decay > 0) {
    config["weight_decay"] = default_weight_decay;
  }
  if (optimizer.has_clipnorm()) config["clipnorm"] = optimizer.clipnorm();
  if (optimizer.has_global_clipnorm()) config["global_clipnorm"] = optimizer.global_clipnorm();
  if (optimizer.has_clipvalue()) config["clipvalue"] = optimizer.clipvalue();
  return config;
}

}  // namespace

Json KerasScheduleJson(const config::LearningRateSchedule& schedule, bool keras3) {
  std::string class_name;
  Json config = ScheduleConfig(schedule, keras3, &class_name);
  Json out;
  if (keras3) out["module"] = "keras.optimizers.schedules";
  out["class_name"] = class_name;
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

Json KerasOptimizerJson(const config::OptimizerConfig& optimizer, bool keras3) {
  Json config;
  std::string class_name;
  switch (optimizer.kind_case()) {
    case config::OptimizerConfig::kSgd:
      class_name = "SGD";
      config = BaseConfig(optimizer, "SGD", 0.01f, 0.0f, keras3);
      config["momentum"] = optimizer.sgd().momentum();
      config["nesterov"] = optimizer.sgd().nesterov();
      break;
    case config::OptimizerConfig::kRmsprop: {
      const auto& c = optimizer.rmsprop();
      class_name = "RMSprop";
      config = BaseConfig(optimizer, keras3 ? "rmsprop" : "RMSprop", 0.001f, 0.0f, keras3);
      config["rho"] = c.has_rho() ? c.rho() : 0.9f;
      config["momentum"] = c.momentum();
      config["epsilon"] = c.has_epsilon() ? c.epsilon() : 1e-7f;
      config["centered"] = false;
      break;
    }
    default: {
      const bool adamw = optimizer.kind_case() == config::OptimizerConfig::kAdamw;
      const auto& c = adamw ? optimizer.adamw() : optimizer.adam();
      class_name = adamw ? "AdamW" : "Adam";
      const std::string name = adamw ? (keras3 ? "adamw" : "AdamW") : (keras3 ? "adam" : "Adam");
      config = BaseConfig(optimizer, name, 0.001f, adamw ? 0.004f : 0.0f, keras3);
      config["beta_1"] = c.has_beta_1() ? c.beta_1() : 0.9f;
      config["beta_2"] = c.has_beta_2() ? c.beta_2() : 0.999f;
      config["epsilon"] = c.has_epsilon() ? c.epsilon() : 1e-7f;
      config["amsgrad"] = false;
      break;
    }
  }
  Json out;
  if (keras3) out["module"] = "keras.optimizers";
  out["class_name"] = class_name;
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

}  // namespace shardtrain::optimizer
