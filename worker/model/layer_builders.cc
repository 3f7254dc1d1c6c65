// Builders of the single-input layers that see an example as a vector or
// only change its shape: Dense, Dropout, Flatten, Activation, custom layers
// and Reshape (model_build.h).
#include <cmath>

#include "storage/keras/json_nesting.h"
#include "worker/model/model_build.h"

namespace shardtrain::model {

Status BuildDense(const config::LayerConfig& spec, LayerBuildContext* context,
                  Model::Layer* layer) {
  layer->kind = Model::LayerKind::kDense;
  if (!context->flat) {
    return InvalidArgumentError(context->Where(*layer) + ": Dense needs a flat input (got shape " +
                                context->input_shape.ToString() +
                                "); add `layers { flatten {} }` before it");
  }
  if (spec.dense().units() <= 0) {
    return InvalidArgumentError(context->Where(*layer) + ": dense.units must be positive, got " +
                                std::to_string(spec.dense().units()));
  }
  layer->output_shape = Shape{spec.dense().units()};
  layer->out_features = spec.dense().units();
  ASSIGN_OR_RETURN(layer->activation, ToKernelActivation(spec.dense().activation(), layer->name));
  layer->use_bias = !spec.dense().has_use_bias() || spec.dense().use_bias();
  RETURN_IF_ERROR(ReadRegularizer(spec.dense().kernel_regularizer(), context->Where(*layer),
                                  "dense.kernel_regularizer", layer));
  const double in = static_cast<double>(layer->in_features);
  const double out = static_cast<double>(layer->out_features);
  RETURN_IF_ERROR(context->ReserveParameters(in * out + (layer->use_bias ? out : 0.0), *layer));
  if (kernels::BackwardTakesInput(layer->activation)) {
    RETURN_IF_ERROR(context->SizeBatchBuffer(*layer, layer->out_features, "pre-activation",
                                             &layer->pre_activation));
  }
  layer->kernel_variable = context->parameters->AddVariable(
      layer->name + "/kernel", Shape{layer->in_features, layer->out_features}, layer->trainable);
  if (layer->use_bias) {
    layer->bias_variable = context->parameters->AddVariable(
        layer->name + "/bias", Shape{layer->out_features}, layer->trainable);
  }
  return context->SizeBuffers(layer);
}

// Works in place over the input when that is a dropout's own buffer (which
// nothing else reads): stacked dropouts share one buffer.
Status BuildDropout(const config::LayerConfig& spec, LayerBuildContext* context,
                    Model::Layer* layer) {
  layer->kind = Model::LayerKind::kDropout;
  const float rate = spec.dropout().rate();
  if (!(rate >= 0.0f && rate < 1.0f)) {
    return InvalidArgumentError(context->Where(*layer) + ": dropout.rate must be in [0, 1), got " +
                                std::to_string(rate));
  }
  layer->rate = rate;
  layer->output_shape = context->input_shape;
  if (rate == 0.0f) return OkStatus();  // the identity: no buffer, no mask
  if (!context->dropout_output_below) {
    RETURN_IF_ERROR(context->SizeBatchBuffer(*layer, context->features, "output", &layer->output));
  }
  const int64_t mask_elements = context->max_batch * context->features;
  if (mask_elements > context->max_dropout_elements) {
    RETURN_IF_ERROR(
        context->Reserve(static_cast<double>(mask_elements - context->max_dropout_elements),
                         context->Where(*layer)));
    context->max_dropout_elements = mask_elements;
  }
  return OkStatus();
}

// Flatten of any rank: the same memory seen as (batch, features).
Status BuildFlatten(const config::LayerConfig&, LayerBuildContext* context, Model::Layer* layer) {
  layer->kind = Model::LayerKind::kFlatten;
  layer->output_shape = Shape{context->features};
  return OkStatus();
}

// Over the last axis of any rank (softmax: per row of the last axis).
Status BuildActivation(const config::LayerConfig& spec, LayerBuildContext* context,
                       Model::Layer* layer) {
  layer->kind = Model::LayerKind::kActivation;
  ASSIGN_OR_RETURN(layer->activation,
                   ToKernelActivation(spec.activation().activation(), layer->name));
  layer->output_shape = context->input_shape;
  return context->SizeBuffers(layer);
}

// A registered class (layer_registry.h), named Keras-style after its class
// ("my_pkg>MyScale" -> my_scale, my_scale_1...; see model_graph.cc).
Status BuildCustom(const config::LayerConfig& spec, LayerBuildContext* context,
                   Model::Layer* layer) {
  layer->kind = Model::LayerKind::kCustom;
  const config::CustomLayer& custom = spec.custom();
  layer->registered_name = custom.registered_name();
  if (!context->flat) {
    return InvalidArgumentError(context->Where(*layer) +
                                ": custom layers take a flat input; add a flatten first");
  }
  // The config travels into Keras files, whose writers recurse over it.
  RETURN_IF_ERROR(storage::keras::CheckJsonNesting(custom.config_json(),
                                                   storage::keras::kMaxKerasJsonDepth,
                                                   context->Where(*layer) + " custom.config_json"));
  auto created = CreateCustomLayer(custom.registered_name(),
                                   custom.config_json().empty() ? "{}" : custom.config_json());
  if (!created.ok()) return created.status().WithContext(context->Where(*layer));
  layer->custom = std::move(*created);
  auto out = layer->custom->OutputSize(context->features);
  if (!out.ok()) return out.status().WithContext(context->Where(*layer));
  layer->output_shape = Shape{*out};
  const auto weights = layer->custom->Weights(context->features);
  double parameters = 0;
  for (const auto& [weight, shape] : weights) {
    parameters += static_cast<double>(shape.num_elements());
  }
  RETURN_IF_ERROR(context->ReserveParameters(parameters, *layer));
  for (const auto& [weight, shape] : weights) {
    layer->custom_variables.push_back(
        context->parameters->AddVariable(layer->name + "/" + weight, shape, layer->trainable));
  }
  return context->SizeBuffers(layer);
}

// Keras Reshape: target_shape with at most one -1, whose product is the input's.
Status BuildReshape(const config::LayerConfig& spec, LayerBuildContext* context,
                    Model::Layer* layer) {
  layer->kind = Model::LayerKind::kReshape;
  const auto& target = spec.reshape().target_shape();
  std::vector<int64_t> dims(target.begin(), target.end());
  int unknown = -1;
  double known = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1 && unknown < 0) {
      unknown = static_cast<int>(i);
    } else if (dims[i] <= 0) {
      return InvalidArgumentError(context->Where(*layer) +
                                  ": reshape.target_shape needs positive dims and at most one "
                                  "-1, got " +
                                  Shape(dims).ToString());
    } else {
      known *= static_cast<double>(dims[i]);
    }
  }
  const double features = static_cast<double>(context->features);
  if (unknown >= 0 && known > 0 && std::fmod(features, known) == 0) {
    dims[static_cast<size_t>(unknown)] = static_cast<int64_t>(features / known);
    known = features;
  }
  if (dims.empty() || known != features) {
    return InvalidArgumentError(
        context->Where(*layer) + ": reshape.target_shape " +
        Shape(std::vector<int64_t>(target.begin(), target.end())).ToString() +
        " does not hold the " + std::to_string(context->features) + " values of its input " +
        context->input_shape.ToString());
  }
  layer->output_shape = Shape(std::move(dims));
  return OkStatus();
}

}  // namespace shardtrain::model
