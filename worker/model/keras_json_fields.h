// Typed readers for the fields of Keras layer configs (JSON), shared by the
// per-class parsers of keras_json_layers.cc and keras_json_conv_layers.cc.
// Each reader checks the JSON type and value of one field and returns
// InvalidArgument "<where>: <field> must be <what>, got <value>" (or names the
// unsupported value) otherwise; `where` names the file and the layer. An
// absent or null optional field leaves the output as it is. Pure functions;
// thread-safe. Internal to worker/model's Keras JSON code.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain::model::keras_json {

using Json = nlohmann::ordered_json;

// "<where>: <key> must be <what>, got <value>".
Status WrongType(const std::string& where, const char* key, const char* what, const Json& value);

// Whether `config` has `key` with a non-null value.
bool Has(const Json& config, const char* key);

// An optional boolean.
Status ReadBool(const Json& config, const char* key, const std::string& where, bool* out);

// An optional boolean that Keras also wrote as the integer 0 or 1 (Python
// truthiness: tf.keras 2.14 saved BatchNormalization(scale=1) as "scale": 1).
Status ReadBoolOrBit(const Json& config, const char* key, const std::string& where, bool* out);

// An optional number (read as float32) in [min, max]; `what` describes the
// range in errors ("a number in [0, 1]").
Status ReadNumber(const Json& config, const char* key, double min, double max, const char* what,
                  const std::string& where, float* out);

// A required integer > 0 (up to INT64_MAX).
Status ReadPositiveInt(const Json& config, const char* key, const std::string& where, int64_t* out);

// An optional 2-D size as Keras writes it: an integer or a list of one or two
// positive integers (kernel_size, strides, pool_size). Absent or null leaves
// `out` empty.
Status ReadSize2D(const Json& config, const char* key, const std::string& where,
                  std::vector<int64_t>* out);

// An optional "valid" / "same" (any case); absent is VALID.
Status ReadPadding(const Json& config, const std::string& where, config::Padding* out);

// data_format must be absent, null or "channels_last".
Status RequireChannelsLast(const Json& config, const std::string& where);

// An optional field that must equal 1: an integer or a list of ones
// (dilation_rate, groups).
Status RequireOnes(const Json& config, const char* key, const std::string& where);

// Options we cannot honour must be absent or null (or a regularizer with zero factors).
Status RequireNull(const Json& config, const char* key, const std::string& where);

// An activation name ("relu") or Keras 3 function object; null is linear.
StatusOr<config::Activation> ParseActivation(const Json& value, const std::string& where);

// Initializers are checked, not followed (new weights use our defaults):
// a known Keras initializer class or absent/null.
Status CheckInitializer(const Json& config, const char* key, const std::string& where);

// kernel_regularizer: null, or Keras's L1, L2 or L1L2 (Keras's defaults:
// 0.01 for L1 and L2, 0 for each factor of L1L2). Zero factors leave `out` as is.
Status ParseRegularizer(const Json& value, const std::string& where, config::Regularizer* out);

// The shared options of Dense and Conv2D: activation, use_bias, initializers,
// kernel_regularizer, and the options that must be null (bias_regularizer,
// activity_regularizer, constraints, lora_rank).
struct KernelOptions {
  config::Activation activation = config::LINEAR;
  bool has_use_bias = false;
  bool use_bias = true;
  bool has_regularizer = false;
  config::Regularizer regularizer;
};
StatusOr<KernelOptions> ParseKernelOptions(const Json& config, const std::string& where);

// A Keras axis that must be the last one of an input of `input_rank`
// dimensions per example (-1 unknown): -1, or input_rank (Keras counts the
// batch axis), or a one-element list of either. Absent is -1.
Status RequireLastAxis(const Json& config, const char* key, int input_rank,
                       const std::string& where);

}  // namespace shardtrain::model::keras_json
