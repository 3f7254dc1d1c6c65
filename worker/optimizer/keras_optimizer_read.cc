#include "worker/optimizer/keras_optimizer_read.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>

namespace shardtrain::optimizer {
namespace {

using Json = nlohmann::json;

constexpr float kAdamWDefaultWeightDecay = 0.004f;

Status Bad(const std::string& where, const std::string& why) {
  return InvalidArgumentError("Keras optimizer: " + where + ": " + why);
}

// A number field; nothing when absent or null.
StatusOr<std::optional<double>> Number(const Json& config, const char* key,
                                       const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return std::optional<double>();
  if (!config[key].is_number()) return Bad(where + "." + key, "not a number");
  return std::optional<double>(config[key].get<double>());
}

StatusOr<double> Required(const Json& config, const char* key, const std::string& where) {
  ASSIGN_OR_RETURN(std::optional<double> value, Number(config, key, where));
  if (!value) return Bad(where + "." + key, "missing");
  return *value;
}

StatusOr<int64_t> Steps(const Json& config, const char* key, const std::string& where) {
  ASSIGN_OR_RETURN(double value, Required(config, key, where));
  if (value != static_cast<double>(static_cast<int64_t>(value))) {
    return Bad(where + "." + key, "not an integer");
  }
  return static_cast<int64_t>(value);
}

StatusOr<bool> Flag(const Json& config, const char* key, const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return false;
  if (!config[key].is_boolean()) return Bad(where + "." + key, "not true or false");
  return config[key].get<bool>();
}

// {"class_name", "config"} (Keras 3 adds "module" and "registered_name").
StatusOr<const Json*> ClassConfig(const Json& object, const std::string& where,
                                  std::string* class_name) {
  if (!object.is_object() || !object.contains("class_name") || !object["class_name"].is_string()) {
    return Bad(where, "no class_name");
  }
  *class_name = object["class_name"].get<std::string>();
  if (class_name->rfind("Custom>", 0) == 0) class_name->erase(0, 7);  // tf.keras 2.11+
  if (!object.contains("config") || !object["config"].is_object()) return Bad(where, "no config");
  return &object["config"];
}

// ExponentialDecay and InverseTimeDecay share their fields.
template <typename Decay>
Status ReadDecay(const Json& c, const std::string& where, Decay* decay) {
  ASSIGN_OR_RETURN(double initial, Required(c, "initial_learning_rate", where));
  ASSIGN_OR_RETURN(int64_t steps, Steps(c, "decay_steps", where));
  ASSIGN_OR_RETURN(double rate, Required(c, "decay_rate", where));
  ASSIGN_OR_RETURN(bool staircase, Flag(c, "staircase", where));
  decay->set_initial_learning_rate(static_cast<float>(initial));
  decay->set_decay_steps(steps);
  decay->set_decay_rate(static_cast<float>(rate));
  decay->set_staircase(staircase);
  return OkStatus();
}

Status ReadPiecewise(const Json& c, const std::string& where,
                     config::PiecewiseConstantDecay* decay) {
  if (!c.contains("boundaries") || !c["boundaries"].is_array() || !c.contains("values") ||
      !c["values"].is_array()) {
    return Bad(where, "boundaries and values must be lists");
  }
  for (const Json& b : c["boundaries"]) {
    if (!b.is_number_integer()) return Bad(where + ".boundaries", "not integers");
    decay->add_boundaries(b.get<int64_t>());
  }
  for (const Json& v : c["values"]) {
    if (!v.is_number()) return Bad(where + ".values", "not numbers");
    decay->add_values(v.get<float>());
  }
  return OkStatus();
}

Status ReadCosine(const Json& c, const std::string& where, config::CosineDecay* decay) {
  ASSIGN_OR_RETURN(double initial, Required(c, "initial_learning_rate", where));
  ASSIGN_OR_RETURN(int64_t steps, Steps(c, "decay_steps", where));
  ASSIGN_OR_RETURN(std::optional<double> alpha, Number(c, "alpha", where));
  ASSIGN_OR_RETURN(std::optional<double> target, Number(c, "warmup_target", where));
  ASSIGN_OR_RETURN(std::optional<double> warmup, Number(c, "warmup_steps", where));
  decay->set_initial_learning_rate(static_cast<float>(initial));
  decay->set_decay_steps(steps);
  decay->set_alpha(static_cast<float>(alpha.value_or(0)));
  if (target) decay->set_warmup_target(static_cast<float>(*target));
  decay->set_warmup_steps(static_cast<int64_t>(warmup.value_or(0)));
  return OkStatus();
}

Status ReadSchedule(const Json& object, const std::string& where,
                    config::LearningRateSchedule* schedule) {
  std::string class_name;
  ASSIGN_OR_RETURN(const Json* c, ClassConfig(object, where, &class_name));
  const std::string at = where + " (" + class_name + ")";
  if (class_name == "ExponentialDecay") return ReadDecay(*c, at, schedule->mutable_exponential_decay());
  if (class_name == "InverseTimeDecay") return ReadDecay(*c, at, schedule->mutable_inverse_time_decay());
  if (class_name == "PiecewiseConstantDecay") {
    return ReadPiecewise(*c, at, schedule->mutable_piecewise_constant_decay());
  }
  if (class_name == "CosineDecay") return ReadCosine(*c, at, schedule->mutable_cosine_decay());
  return Bad(where, "unsupported learning-rate schedule " + class_name);
}

// learning_rate (a number or a schedule; tf.keras 1 "lr"), weight decay, clipping.
Status ReadBase(const Json& c, const std::string& where, config::OptimizerConfig* out) {
  const char* rate_key = c.contains("learning_rate") ? "learning_rate" : "lr";
  if (c.contains(rate_key) && c[rate_key].is_object()) {
    RETURN_IF_ERROR(ReadSchedule(c[rate_key], where + ".learning_rate",
                                 out->mutable_learning_rate_schedule()));
  } else {
    ASSIGN_OR_RETURN(std::optional<double> rate, Number(c, rate_key, where));
    if (rate) out->set_learning_rate(static_cast<float>(*rate));
  }
  ASSIGN_OR_RETURN(std::optional<double> decay, Number(c, "decay", where));  // legacy
  if (decay && *decay != 0) return Bad(where + ".decay", "the legacy decay is not supported");
  for (const char* key : {"weight_decay", "clipnorm", "clipvalue", "global_clipnorm"}) {
    ASSIGN_OR_RETURN(std::optional<double> value, Number(c, key, where));
    if (!value) continue;
    const float v = static_cast<float>(*value);
    const std::string name = key;
    if (name == "weight_decay" && !(out->has_adamw() && v == kAdamWDefaultWeightDecay)) {
      out->set_weight_decay(v);
    }
    if (name == "clipnorm") out->set_clipnorm(v);
    if (name == "clipvalue") out->set_clipvalue(v);
    if (name == "global_clipnorm") out->set_global_clipnorm(v);
  }
  for (const char* key : {"amsgrad", "centered", "use_ema"}) {
    ASSIGN_OR_RETURN(bool on, Flag(c, key, where));
    if (on) return Bad(where + "." + key, "true is not supported");
  }
  return OkStatus();
}

// Sets `field` only when the file's value differs from Keras's default.
template <typename Setter>
Status NonDefault(const Json& c, const char* key, float keras_default, const std::string& where,
                  Setter set) {
  ASSIGN_OR_RETURN(std::optional<double> value, Number(c, key, where));
  if (value && static_cast<float>(*value) != keras_default) set(static_cast<float>(*value));
  return OkStatus();
}

Status ReadKind(const std::string& class_name, const Json& c, const std::string& where,
                config::OptimizerConfig* out) {
  std::string kind = class_name;
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char ch) {
    return static_cast<char>(std::tolower(ch));
  });
  if (kind == "adam" || kind == "adamw") {
    config::AdamConfig* adam = kind == "adam" ? out->mutable_adam() : out->mutable_adamw();
    RETURN_IF_ERROR(NonDefault(c, "beta_1", 0.9f, where, [&](float v) { adam->set_beta_1(v); }));
    RETURN_IF_ERROR(NonDefault(c, "beta_2", 0.999f, where, [&](float v) { adam->set_beta_2(v); }));
    return NonDefault(c, "epsilon", 1e-7f, where, [&](float v) { adam->set_epsilon(v); });
  }
  if (kind == "sgd") {
    ASSIGN_OR_RETURN(std::optional<double> momentum, Number(c, "momentum", where));
    ASSIGN_OR_RETURN(bool nesterov, Flag(c, "nesterov", where));
    out->mutable_sgd()->set_momentum(static_cast<float>(momentum.value_or(0)));
    out->mutable_sgd()->set_nesterov(nesterov);
    return OkStatus();
  }
  if (kind == "rmsprop") {
    config::RmspropConfig* rms = out->mutable_rmsprop();
    ASSIGN_OR_RETURN(std::optional<double> momentum, Number(c, "momentum", where));
    rms->set_momentum(static_cast<float>(momentum.value_or(0)));
    RETURN_IF_ERROR(NonDefault(c, "rho", 0.9f, where, [&](float v) { rms->set_rho(v); }));
    return NonDefault(c, "epsilon", 1e-7f, where, [&](float v) { rms->set_epsilon(v); });
  }
  return Bad(where, "unsupported optimizer class " + class_name);
}

StatusOr<config::OptimizerConfig> ReadOptimizer(const Json& object, const std::string& where) {
  config::OptimizerConfig out;
  if (object.is_string()) {  // compiled with a name: Keras's defaults
    RETURN_IF_ERROR(ReadKind(object.get<std::string>(), Json::object(), where, &out));
    return out;
  }
  std::string class_name;
  ASSIGN_OR_RETURN(const Json* c, ClassConfig(object, where, &class_name));
  RETURN_IF_ERROR(ReadKind(class_name, *c, where, &out));
  RETURN_IF_ERROR(ReadBase(*c, where, &out));
  return out;
}

// The optimizer entry of `json` at `first`.`second`, or null.
const Json* Entry(const Json& json, const char* first, const char* second) {
  if (!json.is_object() || !json.contains(first)) return nullptr;
  const Json& outer = json[first];
  if (second == nullptr) return outer.is_null() ? nullptr : &outer;
  if (!outer.is_object() || !outer.contains(second) || outer[second].is_null()) return nullptr;
  return &outer[second];
}

}  // namespace

StatusOr<config::OptimizerConfig> OptimizerFromKerasFile(const std::string& model_config_json,
                                                         const std::string& training_config_json) {
  const Json model = Json::parse(model_config_json, nullptr, false);
  if (const Json* optimizer = Entry(model, "compile_config", "optimizer")) {
    return ReadOptimizer(*optimizer, "compile_config.optimizer");
  }
  const Json training = Json::parse(training_config_json, nullptr, false);
  if (const Json* optimizer = Entry(training, "optimizer_config", nullptr)) {
    return ReadOptimizer(*optimizer, "training_config.optimizer_config");
  }
  return NotFoundError("the Keras file has no optimizer (not compiled, or saved without it)");
}

}  // namespace shardtrain::optimizer
