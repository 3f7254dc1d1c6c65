// Builders of Add, Concatenate (several inputs) and BatchNormalization
// (model_build.h).
#include <cmath>

#include "worker/model/model_build.h"

namespace shardtrain::model {

// Gradient buffers: inputs 1..n-1 get copies of the output's gradient (input 0 takes it).
Status BuildAdd(const config::LayerConfig&, LayerBuildContext* context, Model::Layer* layer) {
  layer->kind = Model::LayerKind::kAdd;
  for (size_t i = 1; i < context->input_shapes.size(); ++i) {
    if (context->input_shapes[i] == context->input_shapes[0]) continue;
    return InvalidArgumentError(context->Where(*layer) + ": Add needs inputs of one shape, but " +
                                "input " + std::to_string(i) + " has shape " +
                                context->input_shapes[i].ToString() + " and input 0 " +
                                context->input_shapes[0].ToString());
  }
  layer->output_shape = context->input_shape;
  RETURN_IF_ERROR(context->SizeBatchBuffer(*layer, context->features, "output", &layer->output));
  if (!context->gradient_needed_below) return OkStatus();
  const int64_t copies = static_cast<int64_t>(context->input_shapes.size()) - 1;
  return context->SizeBatchBuffer(*layer, copies * context->features, "input gradient",
                                  &layer->grad_input);
}

// Along the last axis; the input gradients are the output gradient's column blocks.
Status BuildConcatenate(const config::LayerConfig& spec, LayerBuildContext* context,
                        Model::Layer* layer) {
  layer->kind = Model::LayerKind::kConcatenate;
  const int rank = context->input_shape.rank();
  const int64_t axis = spec.concatenate().has_axis() ? spec.concatenate().axis() : -1;
  if (axis != -1 && axis != rank) {
    return InvalidArgumentError(context->Where(*layer) + ": concatenate.axis " +
                                std::to_string(axis) + " is not supported: only the last axis (" +
                                "-1 or " + std::to_string(rank) + ")");
  }
  std::vector<int64_t> dims = context->input_shape.dims();
  dims.back() = 0;
  for (size_t i = 0; i < context->input_shapes.size(); ++i) {
    const Shape& shape = context->input_shapes[i];
    bool agrees = shape.rank() == rank;
    for (int d = 0; agrees && d + 1 < rank; ++d) agrees = shape.dim(d) == dims[d];
    if (!agrees) {
      return InvalidArgumentError(context->Where(*layer) + ": Concatenate needs inputs that " +
                                  "agree on all but the last axis, but input " + std::to_string(i) +
                                  " has shape " + shape.ToString() + " and input 0 " +
                                  context->input_shape.ToString());
    }
    dims.back() += shape.dim(rank - 1);
  }
  layer->output_shape = Shape(std::move(dims));
  const int64_t out_features = layer->output_shape.num_elements();
  RETURN_IF_ERROR(context->SizeBatchBuffer(*layer, out_features, "output", &layer->output));
  if (!context->gradient_needed_below) return OkStatus();
  return context->SizeBatchBuffer(*layer, out_features, "input gradient", &layer->grad_input);
}

namespace {

// momentum in [0, 1], epsilon finite and > 0.
Status ReadBatchNormalization(const config::BatchNormalizationLayer& bn, const std::string& where,
                              Model::Layer* layer) {
  layer->synchronized = bn.synchronized();
  layer->momentum = bn.has_momentum() ? bn.momentum() : 0.99f;
  layer->epsilon = bn.has_epsilon() ? bn.epsilon() : 1e-3f;
  layer->center = !bn.has_center() || bn.center();
  layer->scale = !bn.has_scale() || bn.scale();
  if (!(layer->momentum >= 0.0f && layer->momentum <= 1.0f)) {
    return InvalidArgumentError(where + ": batch_normalization.momentum must be in [0, 1], got " +
                                std::to_string(layer->momentum));
  }
  if (!(std::isfinite(layer->epsilon) && layer->epsilon > 0.0f)) {
    return InvalidArgumentError(where + ": batch_normalization.epsilon must be > 0, got " +
                                std::to_string(layer->epsilon));
  }
  return OkStatus();
}

}  // namespace

// Over the last axis; variables gamma, beta (trainable), moving_mean,
// moving_variance (not trainable), in Keras's order.
Status BuildBatchNormalization(const config::LayerConfig& spec, LayerBuildContext* context,
                               Model::Layer* layer) {
  layer->kind = Model::LayerKind::kBatchNormalization;
  RETURN_IF_ERROR(
      ReadBatchNormalization(spec.batch_normalization(), context->Where(*layer), layer));
  layer->output_shape = context->input_shape;
  const int64_t channels = context->input_shape.rank() == 0
                               ? 1
                               : context->input_shape.dim(context->input_shape.rank() - 1);
  const double c = static_cast<double>(channels);
  const int trainable_count = (layer->scale ? 1 : 0) + (layer->center ? 1 : 0);
  RETURN_IF_ERROR(context->ReserveParameters(c * (2 + trainable_count), *layer));
  // Moments and scratch; synchronized: the global gradient sums and the cross-rank sums.
  const double sync_bytes = layer->synchronized ? 4.0 * 2 * c + 8.0 * (1 + 3 * c) : 0.0;
  RETURN_IF_ERROR(context->Reserve(4.0 * c * 5 + sync_bytes, context->Where(*layer)));
  ParameterStore& params = *context->parameters;
  const Shape shape{channels};
  if (layer->scale) {
    layer->gamma_variable = params.AddVariable(layer->name + "/gamma", shape, layer->trainable);
  }
  if (layer->center) {
    layer->beta_variable = params.AddVariable(layer->name + "/beta", shape, layer->trainable);
  }
  layer->moving_mean_variable = params.AddVariable(layer->name + "/moving_mean", shape, false);
  layer->moving_variance_variable =
      params.AddVariable(layer->name + "/moving_variance", shape, false);
  layer->channels = channels;
  RETURN_IF_ERROR(context->Allocate(*layer, channels, "batch mean", &layer->batch_mean));
  RETURN_IF_ERROR(context->Allocate(*layer, channels, "batch variance", &layer->batch_variance));
  const int64_t scratch_channels = layer->synchronized ? 5 : 3;
  RETURN_IF_ERROR(context->Allocate(*layer, scratch_channels * channels, "channel scratch",
                                    &layer->channel_scratch));
  if (layer->synchronized) layer->cross_rank_sums.assign(1 + 3 * static_cast<size_t>(channels), 0);
  return context->SizeBuffers(layer);
}

}  // namespace shardtrain::model
