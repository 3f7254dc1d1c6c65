// Typed readers for Keras layer config fields (keras_json_fields.h).
#include "worker/model/keras_json_fields.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace shardtrain::model::keras_json {

Status WrongType(const std::string& where, const char* key, const char* what, const Json& value) {
  return InvalidArgumentError(where + ": " + key + " must be " + what + ", got " + value.dump());
}

bool Has(const Json& config, const char* key) {
  return config.contains(key) && !config[key].is_null();
}

Status ReadBool(const Json& config, const char* key, const std::string& where, bool* out) {
  if (!Has(config, key)) return OkStatus();
  if (!config[key].is_boolean()) return WrongType(where, key, "true or false", config[key]);
  *out = config[key].get<bool>();
  return OkStatus();
}

Status ReadBoolOrBit(const Json& config, const char* key, const std::string& where, bool* out) {
  if (Has(config, key) && config[key].is_number_integer() &&
      (config[key] == 0 || config[key] == 1)) {
    *out = config[key] == 1;
    return OkStatus();
  }
  if (Has(config, key) && !config[key].is_boolean()) {
    return WrongType(where, key, "true or false (or 0 or 1)", config[key]);
  }
  return ReadBool(config, key, where, out);
}

Status ReadNumber(const Json& config, const char* key, double min, double max, const char* what,
                  const std::string& where, float* out) {
  if (!Has(config, key)) return OkStatus();
  const Json& value = config[key];
  if (!value.is_number() || !(value.get<double>() >= min && value.get<double>() <= max)) {
    return WrongType(where, key, what, value);
  }
  *out = value.get<float>();
  return OkStatus();
}

namespace {

bool IsPositiveInt(const Json& value) {
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned()) return value.get<uint64_t>() <= INT64_MAX && value > 0;
  return value.get<int64_t>() > 0;
}

}  // namespace

Status ReadPositiveInt(const Json& config, const char* key, const std::string& where,
                       int64_t* out) {
  if (!config.contains(key)) return InvalidArgumentError(where + ": " + key + " is missing");
  if (!IsPositiveInt(config[key])) return WrongType(where, key, "a positive integer", config[key]);
  *out = config[key].get<int64_t>();
  return OkStatus();
}

Status ReadSize2D(const Json& config, const char* key, const std::string& where,
                  std::vector<int64_t>* out) {
  if (!Has(config, key)) return OkStatus();
  const Json& value = config[key];
  const Json list = value.is_array() ? value : Json::array({value});
  const bool valid =
      !list.empty() && list.size() <= 2 && std::all_of(list.begin(), list.end(), IsPositiveInt);
  if (!valid) {
    return WrongType(where, key, "a positive integer or a list of one or two of them", value);
  }
  out->clear();
  for (const Json& d : list) out->push_back(d.get<int64_t>());
  return OkStatus();
}

Status ReadPadding(const Json& config, const std::string& where, config::Padding* out) {
  *out = config::VALID;
  if (!Has(config, "padding")) return OkStatus();
  const Json& value = config["padding"];
  if (!value.is_string()) return WrongType(where, "padding", "\"valid\" or \"same\"", value);
  std::string name = value.get<std::string>();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "valid") return OkStatus();
  if (name == "same") {
    *out = config::SAME;
    return OkStatus();
  }
  return InvalidArgumentError(where + ": padding " + value.dump() +
                              " is not supported (valid or same)");
}

Status RequireChannelsLast(const Json& config, const std::string& where) {
  if (!Has(config, "data_format")) return OkStatus();
  const Json& value = config["data_format"];
  if (!value.is_string()) return WrongType(where, "data_format", "a string", value);
  if (value.get<std::string>() == "channels_last") return OkStatus();
  return InvalidArgumentError(where + ": data_format " + value.dump() +
                              " is not supported (channels_last only)");
}

Status RequireOnes(const Json& config, const char* key, const std::string& where) {
  if (!Has(config, key)) return OkStatus();
  const Json& value = config[key];
  const Json list = value.is_array() ? value : Json::array({value});
  for (const Json& d : list) {
    if (!d.is_number_integer()) {
      return WrongType(where, key, "an integer or a list of integers", value);
    }
    if (d.get<int64_t>() != 1) {
      return InvalidArgumentError(where + ": " + key + " " + value.dump() +
                                  " is not supported (1 only)");
    }
  }
  return OkStatus();
}

namespace {

// A regularizer whose factors are all zero (old Keras wrote L1L2(0, 0)) is no regularizer.
bool IsZeroRegularizer(const Json& value) {
  config::Regularizer factors;
  return value.is_object() && ParseRegularizer(value, "", &factors).ok() && factors.l1() == 0 &&
         factors.l2() == 0;
}

}  // namespace

Status RequireNull(const Json& config, const char* key, const std::string& where) {
  if (!Has(config, key) || IsZeroRegularizer(config[key])) return OkStatus();
  return InvalidArgumentError(where + ": option " + key + " = " + config[key].dump() +
                              " is not supported");
}

StatusOr<config::Activation> ParseActivation(const Json& value, const std::string& where) {
  std::string name;
  if (value.is_string()) {
    name = value.get<std::string>();
  } else if (value.is_object() && value.contains("config") && value["config"].is_string()) {
    name = value["config"].get<std::string>();  // Keras 3 function object
  } else if (!value.is_null()) {
    return WrongType(where, "activation", "a name such as \"relu\"", value);
  }
  if (name == "linear" || name.empty()) return config::LINEAR;
  if (name == "relu") return config::RELU;
  if (name == "sigmoid") return config::SIGMOID;
  if (name == "tanh") return config::TANH;
  if (name == "softmax") return config::SOFTMAX;
  if (name == "gelu") return config::GELU;  // Keras's gelu: approximate=False
  return InvalidArgumentError(where + ": unsupported activation '" + name +
                              "' (supported: linear, relu, sigmoid, tanh, softmax, gelu)");
}

namespace {

// The class of a Keras object ({"class_name": ...} or a bare name string), or "".
std::string ObjectClass(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("class_name") && value["class_name"].is_string()) {
    return value["class_name"].get<std::string>();
  }
  return "";
}

// A factor of an L1/L2/L1L2 config: absent or null is `fallback`; else a finite number >= 0.
Status ReadFactor(const Json& config, const char* key, double fallback, const std::string& where,
                  float* out) {
  if (!Has(config, key)) {
    *out = static_cast<float>(fallback);
    return OkStatus();
  }
  const Json& value = config[key];
  if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0) {
    return WrongType(where, key, "a finite number >= 0", value);
  }
  *out = value.get<float>();
  return OkStatus();
}

}  // namespace

Status CheckInitializer(const Json& config, const char* key, const std::string& where) {
  if (!Has(config, key)) return OkStatus();
  // Keras's class names, compared without case and underscores ("he_normal" = "HeNormal").
  static const char* const kKnown[] = {"glorotuniform",   "glorotnormal", "heuniform",
                                       "henormal",        "lecununiform", "lecunnormal",
                                       "zeros",           "ones",         "constant",
                                       "randomuniform",   "randomnormal", "truncatednormal",
                                       "variancescaling", "orthogonal",   "identity"};
  std::string normalized;
  for (char c : ObjectClass(config[key])) {
    if (c != '_') normalized += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const char* known : kKnown) {
    if (normalized == known) return OkStatus();
  }
  return InvalidArgumentError(where + ": " + key + " " + config[key].dump() +
                              " is not a Keras initializer we know");
}

Status ParseRegularizer(const Json& value, const std::string& where, config::Regularizer* out) {
  if (value.is_null()) return OkStatus();
  const std::string class_name = ObjectClass(value);
  const std::string field = where + ": kernel_regularizer";
  if (!value.is_object() || (class_name != "L1" && class_name != "L2" && class_name != "L1L2")) {
    return InvalidArgumentError(field + " " + value.dump() +
                                " is not supported (supported: null, L1, L2, L1L2)");
  }
  const Json config = value.contains("config") ? value["config"] : Json::object();
  if (!config.is_object()) return WrongType(field, "config", "an object", config);
  float l1 = 0, l2 = 0;
  if (class_name != "L2")
    RETURN_IF_ERROR(ReadFactor(config, "l1", class_name == "L1" ? 0.01 : 0, field, &l1));
  if (class_name != "L1")
    RETURN_IF_ERROR(ReadFactor(config, "l2", class_name == "L2" ? 0.01 : 0, field, &l2));
  out->set_l1(l1);
  out->set_l2(l2);
  return OkStatus();
}

StatusOr<KernelOptions> ParseKernelOptions(const Json& config, const std::string& where) {
  KernelOptions options;
  ASSIGN_OR_RETURN(options.activation,
                   ParseActivation(config.value("activation", Json("linear")), where));
  options.has_use_bias = Has(config, "use_bias");
  RETURN_IF_ERROR(ReadBool(config, "use_bias", where, &options.use_bias));
  RETURN_IF_ERROR(CheckInitializer(config, "kernel_initializer", where));
  RETURN_IF_ERROR(CheckInitializer(config, "bias_initializer", where));
  if (config.contains("kernel_regularizer")) {
    RETURN_IF_ERROR(ParseRegularizer(config["kernel_regularizer"], where, &options.regularizer));
    // Zero factors (old Keras wrote L1L2(0, 0)) mean no regularizer.
    options.has_regularizer = options.regularizer.l1() != 0 || options.regularizer.l2() != 0;
  }
  for (const char* key : {"bias_regularizer", "activity_regularizer", "kernel_constraint",
                          "bias_constraint", "lora_rank"}) {
    RETURN_IF_ERROR(RequireNull(config, key, where));
  }
  return options;
}

Status RequireLastAxis(const Json& config, const char* key, int input_rank,
                       const std::string& where) {
  if (!Has(config, key)) return OkStatus();
  const Json& value = config[key];
  const Json& axis = value.is_array() && value.size() == 1 ? value[0] : value;
  if (!axis.is_number_integer()) {
    return WrongType(where, key, "an integer (the last axis, -1)", value);
  }
  const int64_t index = axis.get<int64_t>();
  if (index == -1 || (input_rank > 0 && index == input_rank)) return OkStatus();
  const std::string rank =
      input_rank > 0 ? std::to_string(input_rank + 1) + " with the batch" : "unknown";
  return InvalidArgumentError(where + ": " + key + " " + value.dump() +
                              " is not supported: only the last axis (-1) is (input rank " + rank +
                              ")");
}

}  // namespace shardtrain::model::keras_json
