// Keras layer entries for KerasModelJson (keras_json_write_layers.h): one
// function per layer kind writes its class-specific config keys.
#include "worker/model/keras_json_write_layers.h"

namespace shardtrain::model::keras_json {
namespace {

using Kind = Model::LayerKind;

const char* KerasActivationName(kernels::Activation activation) {
  switch (activation) {
    case kernels::Activation::kRelu:
      return "relu";
    case kernels::Activation::kSigmoid:
      return "sigmoid";
    case kernels::Activation::kTanh:
      return "tanh";
    case kernels::Activation::kSoftmax:
      return "softmax";
    case kernels::Activation::kGelu:
      return "gelu";
    case kernels::Activation::kGeluTanh:
      return "gelu_approximate";  // no Keras name (export refuses it); Keras fails loudly
    case kernels::Activation::kLinear:
      break;
  }
  return "linear";
}

// A Keras object {"module", "class_name", "config", "registered_name"} (Keras 2: no
// module/registered_name).
Json KerasObject(const char* module, const char* class_name, Json config, bool keras3) {
  Json out;
  if (keras3) out["module"] = module;
  out["class_name"] = class_name;
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

Json Initializer(const char* class_name, bool keras3) {
  Json config =
      std::string(class_name) == "GlorotUniform" ? Json{{"seed", nullptr}} : Json::object();
  return KerasObject("keras.initializers", class_name, std::move(config), keras3);
}

// A kernel_regularizer as Keras serializes it: null, L1, L2 or L1L2.
Json Regularizer(const Model::Layer& layer, bool keras3) {
  if (layer.l1 == 0.0f && layer.l2 == 0.0f) return nullptr;
  Json config;
  if (layer.l1 != 0.0f) config["l1"] = layer.l1;
  if (layer.l2 != 0.0f) config["l2"] = layer.l2;
  const char* class_name = layer.l1 == 0.0f ? "L2" : layer.l2 == 0.0f ? "L1" : "L1L2";
  return KerasObject("keras.regularizers", class_name, std::move(config), keras3);
}

Json Pair(int64_t first, int64_t second) { return Json::array({first, second}); }

// Dense and Conv2D: activation, bias, initializers, regularizers, constraints.
void AddKernelOptions(const Model::Layer& layer, bool keras3, Json* config) {
  (*config)["activation"] = KerasActivationName(layer.activation);
  (*config)["use_bias"] = layer.use_bias;
  (*config)["kernel_initializer"] = Initializer("GlorotUniform", keras3);
  (*config)["bias_initializer"] = Initializer("Zeros", keras3);
  (*config)["kernel_regularizer"] = Regularizer(layer, keras3);
  (*config)["bias_regularizer"] = nullptr;
  if (!keras3) (*config)["activity_regularizer"] = nullptr;
  (*config)["kernel_constraint"] = nullptr;
  (*config)["bias_constraint"] = nullptr;
}

void AddConv2DConfig(const Model::Layer& layer, bool keras3, Json* config) {
  const kernels::Conv2DGeometry& g = layer.window;
  (*config)["filters"] = g.out_c;
  (*config)["kernel_size"] = Pair(g.window_h, g.window_w);
  (*config)["strides"] = Pair(g.stride_h, g.stride_w);
  (*config)["padding"] = layer.same_padding ? "same" : "valid";
  (*config)["data_format"] = "channels_last";
  (*config)["dilation_rate"] = Pair(1, 1);
  (*config)["groups"] = 1;
  AddKernelOptions(layer, keras3, config);
}

void AddPoolingConfig(const Model::Layer& layer, Json* config) {
  const kernels::Conv2DGeometry& g = layer.window;
  (*config)["pool_size"] = Pair(g.window_h, g.window_w);
  (*config)["padding"] = layer.same_padding ? "same" : "valid";
  (*config)["strides"] = Pair(g.stride_h, g.stride_w);
  (*config)["data_format"] = "channels_last";
}

void AddBatchNormalizationConfig(const Model::Layer& layer, bool keras3, Json* config) {
  (*config)["axis"] = -1;
  (*config)["momentum"] = layer.momentum;
  (*config)["epsilon"] = layer.epsilon;
  (*config)["center"] = layer.center;
  (*config)["scale"] = layer.scale;
  (*config)["beta_initializer"] = Initializer("Zeros", keras3);
  (*config)["gamma_initializer"] = Initializer("Ones", keras3);
  (*config)["moving_mean_initializer"] = Initializer("Zeros", keras3);
  (*config)["moving_variance_initializer"] = Initializer("Ones", keras3);
  for (const char* key :
       {"beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"}) {
    (*config)[key] = nullptr;
  }
  // tf.keras before 2.12 has no synchronized argument: written there only when set.
  if (keras3 || layer.synchronized) (*config)["synchronized"] = layer.synchronized;
}

// The class name and class-specific keys of a built-in kind; false for kCustom.
bool AddBuiltinConfig(const Model::Layer& layer, bool keras3, std::string* class_name,
                      Json* config) {
  switch (layer.kind) {
    case Kind::kDense:
      *class_name = "Dense";
      (*config)["units"] = layer.out_features;
      AddKernelOptions(layer, keras3, config);
      return true;
    case Kind::kDropout:
      *class_name = "Dropout";
      (*config)["rate"] = layer.rate;
      (*config)["noise_shape"] = nullptr;
      (*config)["seed"] = nullptr;
      return true;
    case Kind::kFlatten:
      *class_name = "Flatten";
      (*config)["data_format"] = "channels_last";
      return true;
    case Kind::kActivation:
      *class_name = "Activation";
      (*config)["activation"] = KerasActivationName(layer.activation);
      return true;
    case Kind::kConv2D:
      *class_name = "Conv2D";
      AddConv2DConfig(layer, keras3, config);
      return true;
    case Kind::kMaxPooling2D:
    case Kind::kAveragePooling2D:
      *class_name = layer.kind == Kind::kMaxPooling2D ? "MaxPooling2D" : "AveragePooling2D";
      AddPoolingConfig(layer, config);
      return true;
    case Kind::kGlobalAveragePooling2D:
      *class_name = "GlobalAveragePooling2D";
      (*config)["data_format"] = "channels_last";
      (*config)["keepdims"] = layer.keepdims;
      return true;
    case Kind::kReshape:
      *class_name = "Reshape";
      (*config)["target_shape"] = layer.output_shape.dims();
      return true;
    case Kind::kBatchNormalization:
      *class_name = "BatchNormalization";
      AddBatchNormalizationConfig(layer, keras3, config);
      return true;
    case Kind::kAdd:
      *class_name = "Add";
      return true;
    case Kind::kConcatenate:
      *class_name = "Concatenate";
      (*config)["axis"] = -1;
      return true;
    case Kind::kCustom:
      break;
  }
  return false;
}

// A registered custom layer: its own config keys; tf.keras puts the
// registered name ("package>Name") into class_name, Keras 3 the bare name.
std::string AddCustomConfig(const Model::Layer& layer, bool keras3, Json* config) {
  Json custom = Json::parse(layer.custom->ConfigJson(), nullptr, false);
  if (!custom.is_object()) custom = Json::object();
  for (auto& [key, value] : custom.items()) (*config)[key] = value;
  const std::string& name = layer.registered_name;
  const size_t separator = name.find('>');
  return keras3 && separator != std::string::npos ? name.substr(separator + 1) : name;
}

bool HasWeights(Kind kind) {
  return kind == Kind::kDense || kind == Kind::kConv2D || kind == Kind::kBatchNormalization ||
         kind == Kind::kCustom;
}

}  // namespace

Json BatchShape(const std::vector<int64_t>& shape) {
  Json out = Json::array({nullptr});
  for (int64_t d : shape) out.push_back(d);
  return out;
}

const Shape& LayerInputShape(const Model& model, size_t index) {
  const Model::Layer& layer = model.layers()[index];
  const int producer = layer.inputs.empty() ? static_cast<int>(index) - 1 : layer.inputs[0];
  return producer < 0 ? model.input_shape()
                      : model.layers()[static_cast<size_t>(producer)].output_shape;
}

Json KerasLayerEntry(const Model& model, size_t index, bool keras3,
                     const std::vector<int64_t>* batch_input_shape) {
  const Model::Layer& layer = model.layers()[index];
  Json config;
  config["name"] = layer.name;
  config["trainable"] = layer.trainable;
  config["dtype"] = "float32";
  if (!keras3 && batch_input_shape != nullptr) {
    config["batch_input_shape"] = BatchShape(*batch_input_shape);
  }
  std::string class_name;
  const bool builtin = AddBuiltinConfig(layer, keras3, &class_name, &config);
  if (!builtin) class_name = AddCustomConfig(layer, keras3, &config);
  Json entry;
  if (keras3) entry["module"] = builtin ? Json("keras.layers") : Json(nullptr);
  entry["class_name"] = class_name;
  entry["config"] = std::move(config);
  if (keras3) {
    entry["registered_name"] = builtin ? Json(nullptr) : Json(layer.registered_name);
    if (HasWeights(layer.kind)) {
      // A custom layer sees its input flat (as it always has); the others their shape.
      const std::vector<int64_t> input_shape = layer.kind == Kind::kCustom
                                                   ? std::vector<int64_t>{layer.in_features}
                                                   : LayerInputShape(model, index).dims();
      entry["build_config"] = Json{{"input_shape", BatchShape(input_shape)}};
    }
  }
  return entry;
}

}  // namespace shardtrain::model::keras_json
