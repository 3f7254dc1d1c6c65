// The image and graph Keras layer parsers: Conv2D, MaxPooling2D,
// AveragePooling2D, GlobalAveragePooling2D, Reshape, BatchNormalization, Add
// and Concatenate (keras_json_layers.h). channels_last only; dilation 1,
// groups 1; BatchNormalization and Concatenate over the last axis only.
#include <algorithm>

#include "worker/model/keras_json_layers.h"

namespace shardtrain::model::keras_json {

Status ParseConv2D(const Json& config, const LayerContext& context, config::LayerConfig* layer) {
  const std::string& where = context.where;
  config::Conv2DLayer* conv = layer->mutable_conv2d();
  int64_t filters = 0;
  RETURN_IF_ERROR(ReadPositiveInt(config, "filters", where, &filters));
  conv->set_filters(filters);
  if (!Has(config, "kernel_size")) return InvalidArgumentError(where + ": kernel_size is missing");
  std::vector<int64_t> kernel, strides;
  RETURN_IF_ERROR(ReadSize2D(config, "kernel_size", where, &kernel));
  RETURN_IF_ERROR(ReadSize2D(config, "strides", where, &strides));
  *conv->mutable_kernel_size() = {kernel.begin(), kernel.end()};
  *conv->mutable_strides() = {strides.begin(), strides.end()};
  config::Padding padding;
  RETURN_IF_ERROR(ReadPadding(config, where, &padding));
  conv->set_padding(padding);
  RETURN_IF_ERROR(RequireChannelsLast(config, where));
  RETURN_IF_ERROR(RequireOnes(config, "dilation_rate", where));
  RETURN_IF_ERROR(RequireOnes(config, "groups", where));
  ASSIGN_OR_RETURN(KernelOptions options, ParseKernelOptions(config, where));
  conv->set_activation(options.activation);
  if (options.has_use_bias) conv->set_use_bias(options.use_bias);
  if (options.has_regularizer) *conv->mutable_kernel_regularizer() = options.regularizer;
  return OkStatus();
}

namespace {

// pool_size (absent: [2, 2]), strides (absent or null: the pool size), padding, data_format.
Status ParsePooling2D(const Json& config, const std::string& where, config::Pooling2DLayer* pool) {
  std::vector<int64_t> size, strides;
  RETURN_IF_ERROR(ReadSize2D(config, "pool_size", where, &size));
  RETURN_IF_ERROR(ReadSize2D(config, "strides", where, &strides));
  *pool->mutable_pool_size() = {size.begin(), size.end()};
  *pool->mutable_strides() = {strides.begin(), strides.end()};
  config::Padding padding;
  RETURN_IF_ERROR(ReadPadding(config, where, &padding));
  pool->set_padding(padding);
  return RequireChannelsLast(config, where);
}

}  // namespace

Status ParseMaxPooling2D(const Json& config, const LayerContext& context,
                         config::LayerConfig* layer) {
  return ParsePooling2D(config, context.where, layer->mutable_max_pooling2d());
}

Status ParseAveragePooling2D(const Json& config, const LayerContext& context,
                             config::LayerConfig* layer) {
  return ParsePooling2D(config, context.where, layer->mutable_average_pooling2d());
}

Status ParseGlobalAveragePooling2D(const Json& config, const LayerContext& context,
                                   config::LayerConfig* layer) {
  RETURN_IF_ERROR(RequireChannelsLast(config, context.where));
  bool keepdims = false;
  RETURN_IF_ERROR(ReadBool(config, "keepdims", context.where, &keepdims));
  layer->mutable_global_average_pooling2d()->set_keepdims(keepdims);
  return OkStatus();
}

// target_shape: a non-empty list of positive integers with at most one -1.
Status ParseReshape(const Json& config, const LayerContext& context, config::LayerConfig* layer) {
  const std::string& where = context.where;
  if (!config.contains("target_shape")) {
    return InvalidArgumentError(where + ": target_shape is missing");
  }
  const Json& shape = config["target_shape"];
  const char* what = "a list of positive integers (one may be -1)";
  if (!shape.is_array() || shape.empty()) return WrongType(where, "target_shape", what, shape);
  int unknown = 0;
  for (const Json& d : shape) {
    const bool positive = d.is_number_integer() && d > 0;
    const bool minus_one = d.is_number_integer() && !d.is_number_unsigned() && d == -1;
    if ((!positive && !minus_one) || (minus_one && ++unknown > 1) ||
        (d.is_number_unsigned() && d.get<uint64_t>() > INT64_MAX)) {
      return WrongType(where, "target_shape", what, shape);
    }
    layer->mutable_reshape()->add_target_shape(d.get<int64_t>());
  }
  return OkStatus();
}

namespace {

// The tf.keras 2 options of BatchNormalization we do not implement must be off.
Status RequireNoRenorm(const Json& config, const std::string& where) {
  bool renorm = false;
  RETURN_IF_ERROR(ReadBool(config, "renorm", where, &renorm));
  if (renorm) return InvalidArgumentError(where + ": renorm true is not supported");
  bool fused = true;  // an implementation choice in tf.keras: any value computes the same
  RETURN_IF_ERROR(ReadBool(config, "fused", where, &fused));
  for (const char* key : {"virtual_batch_size", "adjustment", "beta_regularizer",
                          "gamma_regularizer", "beta_constraint", "gamma_constraint"}) {
    RETURN_IF_ERROR(RequireNull(config, key, where));
  }
  return OkStatus();
}

}  // namespace

Status ParseBatchNormalization(const Json& config, const LayerContext& context,
                               config::LayerConfig* layer) {
  const std::string& where = context.where;
  RETURN_IF_ERROR(RequireLastAxis(config, "axis", context.input_rank, where));
  config::BatchNormalizationLayer* bn = layer->mutable_batch_normalization();
  float momentum = 0.99f, epsilon = 1e-3f;
  RETURN_IF_ERROR(ReadNumber(config, "momentum", 0.0, 1.0, "a number in [0, 1]", where, &momentum));
  RETURN_IF_ERROR(ReadNumber(config, "epsilon", 1e-30, 1e30, "a number > 0", where, &epsilon));
  if (Has(config, "momentum")) bn->set_momentum(momentum);
  if (Has(config, "epsilon")) bn->set_epsilon(epsilon);
  bool center = true, scale = true, synchronized = false;
  RETURN_IF_ERROR(ReadBoolOrBit(config, "center", where, &center));
  RETURN_IF_ERROR(ReadBoolOrBit(config, "scale", where, &scale));
  RETURN_IF_ERROR(ReadBool(config, "synchronized", where, &synchronized));
  if (Has(config, "center")) bn->set_center(center);
  if (Has(config, "scale")) bn->set_scale(scale);
  bn->set_synchronized(synchronized);
  for (const char* key : {"beta_initializer", "gamma_initializer", "moving_mean_initializer",
                          "moving_variance_initializer"}) {
    RETURN_IF_ERROR(CheckInitializer(config, key, where));
  }
  return RequireNoRenorm(config, where);
}

Status ParseAdd(const Json&, const LayerContext&, config::LayerConfig* layer) {
  layer->mutable_add();
  return OkStatus();
}

Status ParseConcatenate(const Json& config, const LayerContext& context,
                        config::LayerConfig* layer) {
  RETURN_IF_ERROR(RequireLastAxis(config, "axis", context.input_rank, context.where));
  layer->mutable_concatenate();  // axis left absent: the last
  return OkStatus();
}

}  // namespace shardtrain::model::keras_json
