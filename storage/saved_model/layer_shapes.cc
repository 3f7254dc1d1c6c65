#include "storage/saved_model/layer_shapes.h"

#include <map>

#include "storage/saved_model/layer_graph.h"

namespace shardtrain::storage::saved_model {
namespace {

std::string ShapeString(const ExampleShape& shape) {
  std::string text = "(";
  for (size_t k = 0; k < shape.size(); ++k) text += (k ? ", " : "") + std::to_string(shape[k]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

int64_t Product(const ExampleShape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status LayerError(const ExportLayer& layer, const std::string& what) {
  return InvalidArgumentError("layer '" + layer.name + "': " + what);
}

// Checks `values` holds `expected` floats (or is empty when `optional`).
Status CheckSize(const ExportLayer& layer, const char* field, const std::vector<float>& values,
                 int64_t expected, bool optional) {
  if (optional && values.empty()) return OkStatus();
  if (static_cast<int64_t>(values.size()) == expected) return OkStatus();
  return LayerError(layer, std::string(field) + " has " + std::to_string(values.size()) +
                               " values, expected " + std::to_string(expected));
}

Status CheckActivation(const ExportLayer& layer) {
  if (IsExportableActivation(layer.activation)) return OkStatus();
  return LayerError(layer, "activation '" + layer.activation + "' cannot be exported");
}

StatusOr<ExampleShape> DenseShape(const ExportLayer& layer, const ExampleShape& x) {
  if (x.size() != 1 || layer.in != x[0] || layer.out <= 0) {
    return InvalidArgumentError("layer '" + layer.name + "' has inconsistent sizes (in " +
                                std::to_string(layer.in) + ", out " + std::to_string(layer.out) +
                                ", input " + ShapeString(x) + ")");
  }
  RETURN_IF_ERROR(CheckSize(layer, "kernel", layer.kernel, layer.in * layer.out, false));
  RETURN_IF_ERROR(CheckSize(layer, "bias", layer.bias, layer.out, true));
  RETURN_IF_ERROR(CheckActivation(layer));
  return ExampleShape{layer.out};
}

// TF's window rule: "VALID" out = (in - window) / stride + 1, "SAME" out = ceil(in / stride).
StatusOr<ExampleShape> WindowShape(const ExportLayer& layer, const ExampleShape& x,
                                   int64_t channels) {
  if (x.size() != 3) return LayerError(layer, "needs an (h, w, c) input, got " + ShapeString(x));
  if (layer.window_h <= 0 || layer.window_w <= 0 || layer.stride_h <= 0 || layer.stride_w <= 0) {
    return LayerError(layer, "window and strides must be positive");
  }
  int64_t out[2];
  const int64_t in[2] = {x[0], x[1]}, window[2] = {layer.window_h, layer.window_w};
  const int64_t stride[2] = {layer.stride_h, layer.stride_w};
  for (int k = 0; k < 2; ++k) {
    out[k] = layer.same_padding  ? (in[k] + stride[k] - 1) / stride[k]
             : in[k] < window[k] ? 0
                                 : (in[k] - window[k]) / stride[k] + 1;
  }
  if (out[0] <= 0 || out[1] <= 0) {
    return LayerError(layer, "the window " + ShapeString({window[0], window[1]}) +
                                 " leaves no output of input " + ShapeString(x));
  }
  return ExampleShape{out[0], out[1], channels};
}

StatusOr<ExampleShape> Conv2DShape(const ExportLayer& layer, const ExampleShape& x) {
  ASSIGN_OR_RETURN(ExampleShape y, WindowShape(layer, x, layer.out));
  if (layer.in != x[2] || layer.out <= 0) {
    return LayerError(layer, "kernel input channels " + std::to_string(layer.in) + " and filters " +
                                 std::to_string(layer.out) + " do not fit input " + ShapeString(x));
  }
  RETURN_IF_ERROR(CheckSize(layer, "kernel", layer.kernel,
                            layer.window_h * layer.window_w * layer.in * layer.out, false));
  RETURN_IF_ERROR(CheckSize(layer, "bias", layer.bias, layer.out, true));
  RETURN_IF_ERROR(CheckActivation(layer));
  return y;
}

StatusOr<ExampleShape> BatchNormShape(const ExportLayer& layer, const ExampleShape& x) {
  if (x.empty()) return LayerError(layer, "needs an input with a channel axis");
  const int64_t channels = x.back();
  RETURN_IF_ERROR(CheckSize(layer, "gamma", layer.gamma, channels, true));
  RETURN_IF_ERROR(CheckSize(layer, "beta", layer.beta, channels, true));
  RETURN_IF_ERROR(CheckSize(layer, "moving_mean", layer.moving_mean, channels, false));
  RETURN_IF_ERROR(CheckSize(layer, "moving_variance", layer.moving_variance, channels, false));
  if (!(layer.epsilon >= 0.0f)) return LayerError(layer, "epsilon must be >= 0");
  return x;
}

StatusOr<ExampleShape> ConcatShape(const ExportLayer& layer,
                                   const std::vector<const ExampleShape*>& inputs) {
  ExampleShape y = *inputs[0];
  if (y.empty()) return LayerError(layer, "cannot concatenate scalars");
  for (size_t k = 1; k < inputs.size(); ++k) {
    const ExampleShape& x = *inputs[k];
    if (x.size() != y.size() || !std::equal(x.begin(), x.end() - 1, y.begin())) {
      return LayerError(layer, "input " + ShapeString(x) + " does not match " +
                                   ShapeString(*inputs[0]) + " except in the last axis");
    }
    y.back() += x.back();
  }
  return y;
}

StatusOr<ExampleShape> ReshapeShape(const ExportLayer& layer, const ExampleShape& x) {
  for (int64_t d : layer.target_shape) {
    if (d <= 0) return LayerError(layer, "target_shape must be positive");
  }
  if (layer.target_shape.empty() || Product(layer.target_shape) != Product(x)) {
    return LayerError(
        layer, "cannot reshape " + ShapeString(x) + " to " + ShapeString(layer.target_shape));
  }
  return layer.target_shape;
}

// The output shape of `layer` given its inputs' shapes (their count checked).
StatusOr<ExampleShape> OutputShape(const ExportLayer& layer,
                                   const std::vector<const ExampleShape*>& inputs) {
  const bool merge =
      layer.kind == ExportLayerKind::kAdd || layer.kind == ExportLayerKind::kConcatenate;
  if (merge ? inputs.size() < 2 : inputs.size() != 1) {
    return LayerError(layer, "takes " + std::string(merge ? "two or more inputs" : "one input") +
                                 ", got " + std::to_string(inputs.size()));
  }
  const ExampleShape& x = *inputs[0];
  switch (layer.kind) {
    case ExportLayerKind::kDense:
      return DenseShape(layer, x);
    case ExportLayerKind::kConv2D:
      return Conv2DShape(layer, x);
    case ExportLayerKind::kMaxPool:
    case ExportLayerKind::kAvgPool:
      return WindowShape(layer, x, x.size() == 3 ? x[2] : 0);
    case ExportLayerKind::kGlobalAvgPool:
      if (x.size() != 3)
        return LayerError(layer, "needs an (h, w, c) input, got " + ShapeString(x));
      return layer.keepdims ? ExampleShape{1, 1, x[2]} : ExampleShape{x[2]};
    case ExportLayerKind::kBatchNormalization:
      return BatchNormShape(layer, x);
    case ExportLayerKind::kActivation:
      RETURN_IF_ERROR(CheckActivation(layer));
      return x;
    case ExportLayerKind::kAdd:
      for (const ExampleShape* other : inputs) {
        if (*other != x) {
          return LayerError(layer, "adds " + ShapeString(x) + " and " + ShapeString(*other));
        }
      }
      return x;
    case ExportLayerKind::kConcatenate:
      return ConcatShape(layer, inputs);
    case ExportLayerKind::kReshape:
      return ReshapeShape(layer, x);
  }
  return LayerError(layer, "unknown layer kind");
}

}  // namespace

ExampleShape ModelInputShape(const ExportModel& model) {
  return model.input_shape.empty() ? ExampleShape{model.input_size} : model.input_shape;
}

std::vector<std::string> LayerInputNames(const ExportModel& model, size_t index) {
  const ExportLayer& layer = model.layers[index];
  if (!layer.inputs.empty()) return layer.inputs;
  return {index == 0 ? model.input_name : model.layers[index - 1].name};
}

StatusOr<std::vector<ExampleShape>> LayerOutputShapes(const ExportModel& model) {
  if (model.layers.empty()) return InvalidArgumentError("the model has no layer to export");
  std::map<std::string, ExampleShape> known = {{model.input_name, ModelInputShape(model)}};
  std::vector<ExampleShape> shapes;
  for (size_t k = 0; k < model.layers.size(); ++k) {
    const ExportLayer& layer = model.layers[k];
    std::vector<const ExampleShape*> inputs;
    for (const std::string& name : LayerInputNames(model, k)) {
      auto found = known.find(name);
      if (found == known.end()) {
        return LayerError(layer, "input '" + name + "' is not the model input or an earlier layer");
      }
      inputs.push_back(&found->second);
    }
    ASSIGN_OR_RETURN(ExampleShape shape, OutputShape(layer, inputs));
    if (!known.emplace(layer.name, shape).second) {
      return LayerError(layer, "the name is used twice (or is the input's name)");
    }
    shapes.push_back(std::move(shape));
  }
  return shapes;
}

std::vector<LayerVariable> LayerVariables(const ExportLayer& layer) {
  std::vector<LayerVariable> out;
  auto add = [&](const char* suffix, std::vector<int64_t> shape, const std::vector<float>& values) {
    if (!values.empty()) out.push_back({layer.name + "/" + suffix, std::move(shape), &values});
  };
  switch (layer.kind) {
    case ExportLayerKind::kDense:
      add("kernel", {layer.in, layer.out}, layer.kernel);
      add("bias", {layer.out}, layer.bias);
      break;
    case ExportLayerKind::kConv2D:
      add("kernel", {layer.window_h, layer.window_w, layer.in, layer.out}, layer.kernel);
      add("bias", {layer.out}, layer.bias);
      break;
    case ExportLayerKind::kBatchNormalization: {
      const int64_t channels = static_cast<int64_t>(layer.moving_mean.size());
      add("gamma", {channels}, layer.gamma);
      add("beta", {channels}, layer.beta);
      add("moving_mean", {channels}, layer.moving_mean);
      add("moving_variance", {channels}, layer.moving_variance);
      break;
    }
    default:
      break;
  }
  return out;
}

}  // namespace shardtrain::storage::saved_model
