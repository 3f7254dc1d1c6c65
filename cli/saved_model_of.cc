#include "cli/saved_model_of.h"

#include <vector>

#include "worker/model/keras_weights.h"

namespace shardtrain::cli {
namespace {

using storage::saved_model::ExportLayer;
using storage::saved_model::ExportLayerKind;
using storage::saved_model::ExportModel;
using Kind = model::Model::LayerKind;

// Variable `variable` (none when < 0) of `model`, whose parameters the host
// reads at `host` (model::HostParams).
std::vector<float> Weights(const model::Model& model, const float* host, int variable) {
  if (variable < 0) return {};
  const model::ParameterStore& params = model.parameters();
  const float* first = host + params.variable(variable).offset;
  return std::vector<float>(first, first + params.variable(variable).shape.num_elements());
}

// The producing layers of layer `k` (an empty list means the previous layer).
std::vector<int> InputsOf(const model::Model& model, size_t k) {
  const std::vector<int>& inputs = model.layers()[k].inputs;
  if (!inputs.empty()) return inputs;
  return {k == 0 ? model::Model::kModelInput : static_cast<int>(k) - 1};
}

// Whether layer `k` is the identity at inference: Dropout, a linear
// Activation, or Flatten of an input that is already flat.
bool IsIdentity(const model::Model& model, size_t k) {
  const model::Model::Layer& layer = model.layers()[k];
  const int input = InputsOf(model, k)[0];
  const Shape& input_shape = input == model::Model::kModelInput
                                 ? model.input_shape()
                                 : model.layers()[static_cast<size_t>(input)].output_shape;
  return layer.kind == Kind::kDropout ||
         (layer.kind == Kind::kFlatten && input_shape.rank() <= 1) ||
         (layer.kind == Kind::kActivation && layer.activation == kernels::Activation::kLinear);
}

// The layer whose output `input` carries once identity layers are skipped.
int Source(const model::Model& model, int input) {
  while (input != model::Model::kModelInput && IsIdentity(model, static_cast<size_t>(input))) {
    input = InputsOf(model, static_cast<size_t>(input))[0];
  }
  return input;
}

// How many layers other than identities read layer `source`'s output.
int Readers(const model::Model& model, int source) {
  int count = 0;
  for (size_t j = 0; j < model.layers().size(); ++j) {
    if (IsIdentity(model, j)) continue;
    for (int input : InputsOf(model, j)) count += Source(model, input) == source;
  }
  return count;
}

void SetWindow(const model::Model::Layer& layer, ExportLayer* out) {
  out->window_h = layer.window.window_h;
  out->window_w = layer.window.window_w;
  out->stride_h = layer.window.stride_h;
  out->stride_w = layer.window.stride_w;
  out->same_padding = layer.same_padding;
}

// The ExportLayer of a layer with weights or attributes (not Dropout,
// Flatten, Activation or Custom); parameters read at `host`.
ExportLayer Converted(const model::Model& model, const float* host,
                      const model::Model::Layer& layer) {
  static const std::pair<Kind, ExportLayerKind> kKinds[] = {
      {Kind::kDense, ExportLayerKind::kDense},
      {Kind::kConv2D, ExportLayerKind::kConv2D},
      {Kind::kMaxPooling2D, ExportLayerKind::kMaxPool},
      {Kind::kAveragePooling2D, ExportLayerKind::kAvgPool},
      {Kind::kGlobalAveragePooling2D, ExportLayerKind::kGlobalAvgPool},
      {Kind::kBatchNormalization, ExportLayerKind::kBatchNormalization},
      {Kind::kAdd, ExportLayerKind::kAdd},
      {Kind::kConcatenate, ExportLayerKind::kConcatenate},
      {Kind::kReshape, ExportLayerKind::kReshape}};
  ExportLayer out;
  for (const auto& [from, to] : kKinds) {
    if (layer.kind == from) out.kind = to;
  }
  out.name = layer.name;
  out.activation = std::string(kernels::ActivationName(layer.activation));
  out.kernel = Weights(model, host, layer.kernel_variable);
  out.bias = Weights(model, host, layer.bias_variable);
  if (layer.kind == Kind::kDense) {
    out.in = layer.in_features;
    out.out = layer.out_features;
  } else if (layer.kind == Kind::kConv2D) {
    out.in = layer.window.in_c;
    out.out = layer.window.out_c;
  }
  SetWindow(layer, &out);
  out.keepdims = layer.keepdims;
  out.epsilon = layer.epsilon;
  out.gamma = Weights(model, host, layer.gamma_variable);
  out.beta = Weights(model, host, layer.beta_variable);
  out.moving_mean = Weights(model, host, layer.moving_mean_variable);
  out.moving_variance = Weights(model, host, layer.moving_variance_variable);
  if (layer.kind == Kind::kReshape) out.target_shape = layer.output_shape.dims();
  return out;
}

// Walks the layers keeping, per layer, the exported name its output is read under.
class Converter {
 public:
  // `host`: the model's parameters as the host reads them (model::HostParams).
  Converter(const model::Model& model, const float* host, ExportModel* out)
      : model_(model), host_(host), out_(out) {}

  Status Run() {
    for (size_t k = 0; k < model_.layers().size(); ++k) RETURN_IF_ERROR(Add(k));
    const std::string& output = names_.back();
    if (out_->layers.empty() || output != out_->layers.back().name) {
      return UnimplementedError(
          "the model's output is its input or a Dropout/Flatten of an "
          "earlier layer; nothing to export as a SavedModel");
    }
    return OkStatus();
  }

 private:
  std::string NameOf(int input) const {
    return input == model::Model::kModelInput ? out_->input_name
                                              : names_[static_cast<size_t>(input)];
  }
  Status Add(size_t k) {
    const model::Model::Layer& layer = model_.layers()[k];
    const std::vector<int> inputs = InputsOf(model_, k);
    if (layer.kind == Kind::kCustom) {
      return UnimplementedError("layer '" + layer.name + "' (" + layer.registered_name +
                                ") is a custom layer; a SavedModel cannot run it (use --format "
                                "keras)");
    }
    if (IsIdentity(model_, k)) {
      names_.push_back(NameOf(inputs[0]));
      return OkStatus();
    }
    if (layer.kind == Kind::kActivation && Folds(inputs[0])) {
      out_->layers.back().activation = std::string(kernels::ActivationName(layer.activation));
      names_.push_back(out_->layers.back().name);
      return OkStatus();
    }
    ExportLayer exported;
    if (layer.kind == Kind::kFlatten) {
      exported.kind = ExportLayerKind::kReshape;
      exported.name = layer.name;
      exported.target_shape = {layer.output_shape.num_elements()};
    } else if (layer.kind == Kind::kActivation) {
      exported.kind = ExportLayerKind::kActivation;
      exported.name = layer.name;
      exported.activation = std::string(kernels::ActivationName(layer.activation));
    } else {
      exported = Converted(model_, host_, layer);
    }
    for (int input : inputs) exported.inputs.push_back(NameOf(input));
    names_.push_back(exported.name);
    out_->layers.push_back(std::move(exported));
    return OkStatus();
  }

  // Whether an Activation reading `input` folds into the last exported layer:
  // the input is that layer, a linear Dense or Conv2D that nothing else reads.
  bool Folds(int input) const {
    const int source = Source(model_, input);
    if (source == model::Model::kModelInput || out_->layers.empty()) return false;
    const ExportLayer& last = out_->layers.back();
    return model_.layers()[static_cast<size_t>(source)].name == last.name &&
           (last.kind == ExportLayerKind::kDense || last.kind == ExportLayerKind::kConv2D) &&
           last.activation == "linear" && Readers(model_, source) == 1;
  }

  const model::Model& model_;
  const float* host_;
  ExportModel* out_;
  std::vector<std::string> names_;  // per model layer: the name its output is read under
};

}  // namespace

StatusOr<ExportModel> ExportModelOf(const model::Model& model, const std::string& input_name) {
  ExportModel out;
  out.input_name = input_name;
  out.input_size = model.input_size();
  if (model.input_shape().rank() > 1) out.input_shape = model.input_shape().dims();
  std::vector<float> copy;  // the parameters, where the host cannot read the model's memory
  ASSIGN_OR_RETURN(const float* host, model::HostParams(model.parameters(), &copy));
  Converter converter(model, host, &out);
  RETURN_IF_ERROR(converter.Run());
  return out;
}

}  // namespace shardtrain::cli
