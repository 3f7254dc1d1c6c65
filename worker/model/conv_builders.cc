// Builders of the image layers, channels_last (height, width, channels):
// Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D
// (model_build.h). Each fills Layer::window (batch left 0) through
// kernels::WindowGeometry, the one place TF's "same"/"valid" rules live.
#include <algorithm>
#include <thread>

#include "worker/model/model_build.h"

namespace shardtrain::model {
namespace {

// Fills the input dims of layer->window; InvalidArgument unless the input has rank 3.
Status TakeImageInput(const LayerBuildContext& context, const char* class_name,
                      Model::Layer* layer) {
  const Shape& in = context.input_shape;
  if (in.rank() != 3) {
    return InvalidArgumentError(context.Where(*layer) + ": " + class_name +
                                " needs an input of shape (height, width, channels), got " +
                                in.ToString());
  }
  layer->window.in_h = in.dim(0);
  layer->window.in_w = in.dim(1);
  layer->window.in_c = in.dim(2);
  return OkStatus();
}

// Keras's int-or-pair fields ([a, b] or [a]; empty: `fallback`), each positive.
StatusOr<std::pair<int64_t, int64_t>> ReadPair(
    const google::protobuf::RepeatedField<int64_t>& values, std::pair<int64_t, int64_t> fallback,
    const std::string& where, const std::string& field) {
  std::pair<int64_t, int64_t> pair = fallback;
  if (values.size() == 1) pair = {values[0], values[0]};
  if (values.size() == 2) pair = {values[0], values[1]};
  if (values.size() > 2 || pair.first <= 0 || pair.second <= 0) {
    return InvalidArgumentError(
        where + ": " + field + " must be one or two positive sizes, got " +
        Shape(std::vector<int64_t>(values.begin(), values.end())).ToString());
  }
  return pair;
}

// Completes layer->window from the window size, strides and padding; the
// output keeps `out_c` channels.
Status FitWindow(const LayerBuildContext& context, const char* field,
                 std::pair<int64_t, int64_t> size, std::pair<int64_t, int64_t> strides,
                 config::Padding padding, int64_t out_c, Model::Layer* layer) {
  kernels::Conv2DGeometry& g = layer->window;
  g.window_h = size.first;
  g.window_w = size.second;
  g.stride_h = strides.first;
  g.stride_w = strides.second;
  g.out_c = out_c;
  layer->same_padding = padding == config::SAME;
  if (!kernels::WindowGeometry(layer->same_padding, &g)) {
    return InvalidArgumentError(
        context.Where(*layer) + ": the " + std::to_string(g.window_h) + "x" +
        std::to_string(g.window_w) + " " + field + " window does not fit the " +
        std::to_string(g.in_h) + "x" + std::to_string(g.in_w) +
        " input with padding valid (use padding: SAME or a smaller window)");
  }
  // Checked in double before any int64 product of the output's size can wrap.
  const double out_bytes = 4.0 * static_cast<double>(g.out_h) * static_cast<double>(g.out_w) *
                           static_cast<double>(g.out_c) * static_cast<double>(context.max_batch);
  if (out_bytes > context.memory_limit) {
    return ResourceExhaustedError(context.Where(*layer) + ": its " + std::to_string(g.out_h) + "x" +
                                  std::to_string(g.out_w) + "x" + std::to_string(g.out_c) +
                                  " output would need more than this machine's memory");
  }
  layer->output_shape = Shape{g.out_h, g.out_w, g.out_c};
  return OkStatus();
}

Status BuildPooling(const config::Pooling2DLayer& pool, const char* class_name, const char* field,
                    LayerBuildContext* context, Model::Layer* layer) {
  RETURN_IF_ERROR(TakeImageInput(*context, class_name, layer));
  const std::string where = context->Where(*layer);
  ASSIGN_OR_RETURN(const auto size,
                   ReadPair(pool.pool_size(), {2, 2}, where, std::string(field) + ".pool_size"));
  ASSIGN_OR_RETURN(const auto strides,
                   ReadPair(pool.strides(), size, where, std::string(field) + ".strides"));
  RETURN_IF_ERROR(
      FitWindow(*context, field, size, strides, pool.padding(), layer->window.in_c, layer));
  return context->SizeBuffers(layer);
}

}  // namespace

Status BuildConv2D(const config::LayerConfig& spec, LayerBuildContext* context,
                   Model::Layer* layer) {
  layer->kind = Model::LayerKind::kConv2D;
  const config::Conv2DLayer& conv = spec.conv2d();
  RETURN_IF_ERROR(TakeImageInput(*context, "Conv2D", layer));
  const std::string where = context->Where(*layer);
  if (conv.filters() <= 0) {
    return InvalidArgumentError(where + ": conv2d.filters must be positive, got " +
                                std::to_string(conv.filters()));
  }
  if (conv.kernel_size().empty()) {
    return InvalidArgumentError(where + ": conv2d.kernel_size is required, e.g. [3, 3]");
  }
  ASSIGN_OR_RETURN(const auto kernel,
                   ReadPair(conv.kernel_size(), {0, 0}, where, "conv2d.kernel_size"));
  ASSIGN_OR_RETURN(const auto strides, ReadPair(conv.strides(), {1, 1}, where, "conv2d.strides"));
  RETURN_IF_ERROR(
      FitWindow(*context, "conv2d", kernel, strides, conv.padding(), conv.filters(), layer));
  ASSIGN_OR_RETURN(layer->activation, ToKernelActivation(conv.activation(), layer->name));
  layer->use_bias = !conv.has_use_bias() || conv.use_bias();
  RETURN_IF_ERROR(
      ReadRegularizer(conv.kernel_regularizer(), where, "conv2d.kernel_regularizer", layer));
  const kernels::Conv2DGeometry& g = layer->window;
  // Sizes in double first, so that no int64 product below can wrap.
  const double patch = static_cast<double>(g.window_h) * static_cast<double>(g.window_w) *
                       static_cast<double>(g.in_c);
  const double out_c = static_cast<double>(g.out_c);
  RETURN_IF_ERROR(
      context->ReserveParameters(patch * out_c + (layer->use_bias ? out_c : 0.0), *layer));
  // The kernels' im2col scratch: one example's patches per thread, at most one thread per core.
  const double threads = std::max(1u, std::thread::hardware_concurrency());
  RETURN_IF_ERROR(context->Reserve(
      4.0 * threads * patch * static_cast<double>(g.out_h) * static_cast<double>(g.out_w),
      context->Where(*layer) + " (im2col scratch)"));
  const Shape kernel_shape{g.window_h, g.window_w, g.in_c, g.out_c};
  const int64_t out_features = layer->output_shape.num_elements();
  if (kernels::BackwardTakesInput(layer->activation)) {
    RETURN_IF_ERROR(
        context->SizeBatchBuffer(*layer, out_features, "pre-activation", &layer->pre_activation));
  }
  layer->kernel_variable =
      context->parameters->AddVariable(layer->name + "/kernel", kernel_shape, layer->trainable);
  if (layer->use_bias) {
    layer->bias_variable =
        context->parameters->AddVariable(layer->name + "/bias", Shape{g.out_c}, layer->trainable);
  }
  return context->SizeBuffers(layer);
}

Status BuildMaxPooling2D(const config::LayerConfig& spec, LayerBuildContext* context,
                         Model::Layer* layer) {
  layer->kind = Model::LayerKind::kMaxPooling2D;
  return BuildPooling(spec.max_pooling2d(), "MaxPooling2D", "max_pooling2d", context, layer);
}

Status BuildAveragePooling2D(const config::LayerConfig& spec, LayerBuildContext* context,
                             Model::Layer* layer) {
  layer->kind = Model::LayerKind::kAveragePooling2D;
  return BuildPooling(spec.average_pooling2d(), "AveragePooling2D", "average_pooling2d", context,
                      layer);
}

// An average pool whose window is the whole image: (c), or (1, 1, c) with keepdims.
Status BuildGlobalAveragePooling2D(const config::LayerConfig& spec, LayerBuildContext* context,
                                   Model::Layer* layer) {
  layer->kind = Model::LayerKind::kGlobalAveragePooling2D;
  RETURN_IF_ERROR(TakeImageInput(*context, "GlobalAveragePooling2D", layer));
  const kernels::Conv2DGeometry& g = layer->window;
  RETURN_IF_ERROR(FitWindow(*context, "global_average_pooling2d", {g.in_h, g.in_w}, {1, 1},
                            config::VALID, g.in_c, layer));
  layer->keepdims = spec.global_average_pooling2d().keepdims();
  if (!layer->keepdims) layer->output_shape = Shape{layer->window.in_c};
  return context->SizeBuffers(layer);
}

}  // namespace shardtrain::model
