// KerasModelJson (keras_json.h): a built model as Keras model JSON. A chain
// (each layer reads the one before) is written as a Sequential model, as it
// always has been; a graph as a Functional model whose layers carry "name"
// and "inbound_nodes" (Keras 3: __keras_tensor__ arguments, Keras 2: [name,
// 0, 0, {}] lists; spec keras-formats.md §5.2), starting with the InputLayer
// named after the model's input.
#include "worker/model/keras_json.h"
#include "worker/model/keras_json_compile.h"
#include "worker/model/keras_json_write_layers.h"
#include "worker/model/keras_weights.h"

namespace shardtrain::model {
namespace {

using keras_json::BatchShape;
using keras_json::Json;

Json InputLayerEntry(const std::vector<int64_t>& input_shape, const std::string& name,
                     bool keras3) {
  Json config;
  config[keras3 ? "batch_shape" : "batch_input_shape"] = BatchShape(input_shape);
  config["dtype"] = "float32";
  config["sparse"] = false;
  if (!keras3) config["ragged"] = false;
  config["name"] = name;
  Json input;
  if (keras3) input["module"] = "keras.layers";
  input["class_name"] = "InputLayer";
  input["config"] = std::move(config);
  if (keras3) input["registered_name"] = nullptr;
  return input;
}

// The name and output shape of producer `index` (Model::kModelInput: the input).
std::pair<std::string, const Shape*> Producer(const Model& model, int index) {
  if (index == Model::kModelInput) return {model.input_name(), &model.input_shape()};
  const Model::Layer& layer = model.layers()[static_cast<size_t>(index)];
  return {layer.name, &layer.output_shape};
}

// The producers of layer `index`: its inputs, else the layer before (or the input).
std::vector<int> Producers(const Model& model, size_t index) {
  const Model::Layer& layer = model.layers()[index];
  if (!layer.inputs.empty()) return layer.inputs;
  return {index == 0 ? Model::kModelInput : static_cast<int>(index) - 1};
}

// The layer's single inbound node in Keras 3 or Keras 2 form.
Json InboundNodes(const Model& model, size_t index, bool keras3) {
  const Model::LayerKind kind = model.layers()[index].kind;
  const bool merge = kind == Model::LayerKind::kAdd || kind == Model::LayerKind::kConcatenate;
  Json tensors = Json::array();
  for (int producer : Producers(model, index)) {
    const auto [name, shape] = Producer(model, producer);
    if (keras3) {
      tensors.push_back(Json{{"class_name", "__keras_tensor__"},
                             {"config",
                              {{"shape", BatchShape(shape->dims())},
                               {"dtype", "float32"},
                               {"keras_history", Json::array({name, 0, 0})}}}});
    } else {
      tensors.push_back(Json::array({name, 0, 0, Json::object()}));
    }
  }
  if (!keras3) return Json::array({std::move(tensors)});
  Json args = merge ? Json::array({std::move(tensors)}) : std::move(tensors);
  return Json::array({Json{{"args", std::move(args)}, {"kwargs", Json::object()}}});
}

// A layer list entry with the Functional keys "name" and "inbound_nodes".
Json WithInbound(Json entry, const std::string& name, Json inbound_nodes) {
  entry["name"] = name;
  entry["inbound_nodes"] = std::move(inbound_nodes);
  return entry;
}

Json FunctionalConfig(const Model& model, const std::vector<int64_t>& input_shape, bool keras3) {
  const std::string& input_name = model.input_name();
  Json layers = Json::array();
  layers.push_back(
      WithInbound(InputLayerEntry(input_shape, input_name, keras3), input_name, Json::array()));
  for (size_t i = 0; i < model.layers().size(); ++i) {
    layers.push_back(WithInbound(keras_json::KerasLayerEntry(model, i, keras3, nullptr),
                                 model.layers()[i].name, InboundNodes(model, i, keras3)));
  }
  Json config;
  config["name"] = keras3 ? "functional" : "model";
  config["trainable"] = true;
  config["layers"] = std::move(layers);
  config["input_layers"] = Json::array({Json::array({input_name, 0, 0})});
  config["output_layers"] = Json::array({Json::array({model.layers().back().name, 0, 0})});
  return config;
}

Json SequentialConfig(const Model& model, const std::vector<int64_t>& input_shape, bool keras3) {
  const std::string first_name = model.layers().empty() ? "dense" : model.layers()[0].name;
  Json layers = Json::array();
  layers.push_back(
      InputLayerEntry(input_shape, keras3 ? "input_layer" : first_name + "_input", keras3));
  for (size_t i = 0; i < model.layers().size(); ++i) {
    layers.push_back(
        keras_json::KerasLayerEntry(model, i, keras3, i == 0 ? &input_shape : nullptr));
  }
  Json config;
  config["name"] = "sequential";
  if (keras3) {
    config["trainable"] = true;
    config["dtype"] = "float32";
  }
  config["layers"] = std::move(layers);
  if (keras3) config["build_input_shape"] = BatchShape(input_shape);
  return config;
}

}  // namespace

std::string KerasModelJson(const config::JobConfig& job, const Model& model, KerasJsonFlavor flavor,
                           bool compile, bool to_json) {
  const bool keras3 = flavor == KerasJsonFlavor::kKeras3;
  const bool functional = IsKerasFunctional(model);
  const std::vector<int64_t> input_shape(job.model().input_shape().begin(),
                                         job.model().input_shape().end());
  Json root;
  if (keras3) root["module"] = functional ? "keras.src.models.functional" : "keras";
  root["class_name"] = functional ? "Functional" : "Sequential";
  root["config"] = functional ? FunctionalConfig(model, input_shape, keras3)
                              : SequentialConfig(model, input_shape, keras3);
  if (keras3) {
    root["registered_name"] = functional ? Json("Functional") : Json(nullptr);
    root["build_config"] =
        Json{{"input_shape", functional ? Json(nullptr) : BatchShape(input_shape)}};
    if (compile) root["compile_config"] = keras_json::KerasCompileConfig(job);
  } else if (to_json) {
    root["keras_version"] = "2.12.0";
    root["backend"] = "tensorflow";
  }
  return root.dump();
}

}  // namespace shardtrain::model
