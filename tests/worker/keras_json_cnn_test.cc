// Keras model JSON with the image and graph layers (issue 23): Conv2D,
// pooling, GlobalAveragePooling2D, Reshape, BatchNormalization, Add and
// Concatenate are read into the LayerConfig fields Keras's values mean;
// Functional graphs keep their inputs by name (Keras 2 and Keras 3 forms give
// the same config); every field of the wrong type or unsupported value is an
// error naming the layer and field; several inputs/outputs and shared layers
// are Unimplemented; our export of a graph or a CNN reads back to the same
// config and writes the same JSON again.
#include <gtest/gtest.h>

#include "kernels/backend.h"
#include "worker/job_config.h"
#include "worker/model/keras_json.h"

namespace shardtrain::model {
namespace {

// A Keras 3 Sequential model JSON of `layers` (entries after the InputLayer).
std::string Keras3Sequential(const std::string& input_shape, const std::string& layers) {
  return R"({"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
      {"module": "keras.layers", "class_name": "InputLayer",
       "config": {"batch_shape": )" +
         input_shape +
         R"(, "dtype": "float32", "name": "input_layer"}, "registered_name": null}, )" + layers +
         "]}}";
}

// One Keras 3 layer entry of a Sequential model.
std::string Entry(const std::string& class_name, const std::string& config) {
  return R"({"module": "keras.layers", "class_name": ")" + class_name + R"(", "config": )" +
         config + R"(, "registered_name": null})";
}

std::string Layers(const config::ModelConfig& model) {
  std::string out;
  for (const config::LayerConfig& layer : model.layers()) out += layer.ShortDebugString() + "\n";
  return out;
}

// Int and list forms, null strides, upper-case padding, and center/scale as
// 0/1 (tf.keras 2.14 wrote BatchNormalization(scale=1) so) read as Keras reads them.
TEST(KerasJsonCnnTest, ImageLayersReadAsKerasMeansThem) {
  const std::string json = Keras3Sequential(
      "[null, 28, 28, 1]",
      Entry("Conv2D", R"({"name": "c", "filters": 8, "kernel_size": [3, 3], "strides": [1, 1],
            "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
            "groups": 1, "activation": "relu", "use_bias": false,
            "kernel_initializer": {"module": "keras.initializers", "class_name": "HeNormal",
                                   "config": {"seed": null}, "registered_name": null},
            "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.5}}})") +
          ", " + Entry("BatchNormalization", R"({"name": "bn", "axis": -1, "momentum": 0.5,
                "epsilon": 0.25, "center": 1, "scale": 0, "synchronized": false})") +
          ", " + Entry("MaxPooling2D", R"({"name": "mp", "pool_size": [2, 2], "strides": null,
                 "padding": "valid"})") +
          ", " + Entry("AveragePooling2D", R"({"name": "ap", "pool_size": 3, "strides": 1,
                 "padding": "SAME"})") +
          ", " + Entry("GlobalAveragePooling2D", R"({"name": "gap", "keepdims": true})") + ", " +
          Entry("Reshape", R"({"name": "r", "target_shape": [2, -1]})") + ", " +
          Entry("Flatten", R"({"name": "f", "data_format": "channels_last"})") + ", " +
          Entry("Dense", R"({"name": "d", "units": 10})"));
  auto config = ModelConfigFromKerasJson(json, "cnn.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->input_shape_size(), 3);
  EXPECT_EQ(config->input_name(), "");  // a chain names no inputs
  EXPECT_EQ(Layers(*config),
            "name: \"c\" conv2d { filters: 8 kernel_size: 3 kernel_size: 3 strides: 1 strides: 1 "
            "padding: SAME activation: RELU use_bias: false kernel_regularizer { l2: 0.5 } }\n"
            "name: \"bn\" batch_normalization { momentum: 0.5 epsilon: 0.25 center: true "
            "scale: false }\n"
            "name: \"mp\" max_pooling2d { pool_size: 2 pool_size: 2 padding: VALID }\n"
            "name: \"ap\" average_pooling2d { pool_size: 3 strides: 1 padding: SAME }\n"
            "name: \"gap\" global_average_pooling2d { keepdims: true }\n"
            "name: \"r\" reshape { target_shape: 2 target_shape: -1 }\n"
            "name: \"f\" flatten { }\n"
            "name: \"d\" dense { units: 10 activation: LINEAR }\n");
}

// A residual block with a concatenation, as Keras 2 (tf.keras) writes it.
const char kKeras2Graph[] = R"({"class_name": "Functional", "config": {"name": "model", "layers": [
  {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 3], "name": "img"},
   "name": "img", "inbound_nodes": []},
  {"class_name": "Conv2D", "config": {"name": "conv", "filters": 4, "kernel_size": [3, 3],
   "strides": [1, 1], "padding": "same", "activation": "linear"}, "name": "conv",
   "inbound_nodes": [[["img", 0, 0, {}]]]},
  {"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [3]}, "name": "bn",
   "inbound_nodes": [[["conv", 0, 0, {}]]]},
  {"class_name": "Activation", "config": {"name": "relu", "activation": "relu"}, "name": "relu",
   "inbound_nodes": [[["bn", 0, 0, {}]]]},
  {"class_name": "Conv2D", "config": {"name": "shortcut", "filters": 4, "kernel_size": [1, 1],
   "strides": [1, 1], "padding": "valid", "activation": "linear"}, "name": "shortcut",
   "inbound_nodes": [[["img", 0, 0, {}]]]},
  {"class_name": "Add", "config": {"name": "add"}, "name": "add",
   "inbound_nodes": [[["relu", 0, 0, {}], ["shortcut", 0, 0, {}]]]},
  {"class_name": "Concatenate", "config": {"name": "cat", "axis": 3}, "name": "cat",
   "inbound_nodes": [[["add", 0, 0, {}], ["img", 0, 0, {}]]]},
  {"class_name": "Flatten", "config": {"name": "flat"}, "name": "flat",
   "inbound_nodes": [[["cat", 0, 0, {}]]]},
  {"class_name": "Dense", "config": {"name": "out", "units": 2}, "name": "out",
   "inbound_nodes": [[["flat", 0, 0, {}]]]}],
  "input_layers": [["img", 0, 0]], "output_layers": [["out", 0, 0]]}})";

// A Keras 3 __keras_tensor__ argument produced by `layer`.
std::string Tensor(const std::string& layer) {
  return R"({"class_name": "__keras_tensor__", "config": {"shape": [null, 8, 8, 4],
             "dtype": "float32", "keras_history": [")" +
         layer + R"(", 0, 0]}})";
}

// A Keras 3 Functional layer entry whose node's args are `args`.
std::string Node(const std::string& class_name, const std::string& name, const std::string& config,
                 const std::string& args) {
  return R"({"module": "keras.layers", "class_name": ")" + class_name +
         R"(", "config": {"name": ")" + name + "\"" + config + R"(}, "registered_name": null,
             "name": ")" +
         name + R"(", "inbound_nodes": [{"args": [)" + args + R"(], "kwargs": {}}]})";
}

// The same block as Keras 3 writes it (args[0] is a list for Add/Concatenate).
std::string Keras3Graph() {
  return R"({"module": "keras.src.models.functional", "class_name": "Functional", "config": {
    "name": "functional", "trainable": true, "layers": [
    {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3],
     "dtype": "float32", "name": "img"}, "registered_name": null, "name": "img", "inbound_nodes": []},
    )" +
         Node("Conv2D", "conv", R"(, "filters": 4, "kernel_size": [3, 3], "padding": "same")",
              Tensor("img")) +
         ", " + Node("BatchNormalization", "bn", R"(, "axis": -1)", Tensor("conv")) + ", " +
         Node("Activation", "relu", R"(, "activation": "relu")", Tensor("bn")) + ", " +
         Node("Conv2D", "shortcut", R"(, "filters": 4, "kernel_size": [1, 1])", Tensor("img")) +
         ", " + Node("Add", "add", "", "[" + Tensor("relu") + ", " + Tensor("shortcut") + "]") +
         ", " +
         Node("Concatenate", "cat", R"(, "axis": -1)",
              "[" + Tensor("add") + ", " + Tensor("img") + "]") +
         ", " + Node("Flatten", "flat", "", Tensor("cat")) + ", " +
         Node("Dense", "out", R"(, "units": 2)", Tensor("flat")) + R"(],
    "input_layers": ["img", 0, 0], "output_layers": ["out", 0, 0]},
    "registered_name": "Functional", "build_config": {"input_shape": null}})";
}

TEST(KerasJsonCnnTest, FunctionalGraphsKeepTheirInputsInBothForms) {
  auto k2 = ModelConfigFromKerasJson(kKeras2Graph, "k2.json");
  ASSERT_TRUE(k2.ok()) << k2.status();
  EXPECT_EQ(k2->input_name(), "img");
  // A layer reading the one listed just before it keeps `inputs` empty.
  EXPECT_EQ(
      Layers(*k2),
      "name: \"conv\" conv2d { filters: 4 kernel_size: 3 kernel_size: 3 strides: 1 strides: 1 "
      "padding: SAME activation: LINEAR }\n"
      "name: \"bn\" batch_normalization { }\n"
      "name: \"relu\" activation { activation: RELU }\n"
      "name: \"shortcut\" conv2d { filters: 4 kernel_size: 1 kernel_size: 1 strides: 1 "
      "strides: 1 padding: VALID activation: LINEAR } inputs: \"img\"\n"
      "name: \"add\" add { } inputs: \"relu\" inputs: \"shortcut\"\n"
      "name: \"cat\" concatenate { } inputs: \"add\" inputs: \"img\"\n"
      "name: \"flat\" flatten { }\n"
      "name: \"out\" dense { units: 2 activation: LINEAR }\n");
  auto k3 = ModelConfigFromKerasJson(Keras3Graph(), "k3.json");
  ASSERT_TRUE(k3.ok()) << k3.status();
  // Keras 3 leaves strides at their default here; otherwise the same graph.
  config::ModelConfig k2_without_strides = *k2;
  for (config::LayerConfig& layer : *k2_without_strides.mutable_layers()) {
    if (layer.has_conv2d()) layer.mutable_conv2d()->clear_strides();
  }
  EXPECT_EQ(k3->ShortDebugString(), k2_without_strides.ShortDebugString());
}

// A Keras 3 Functional model of `entries` (after an InputLayer "in" of [null, 4, 4, 2]).
StatusOr<config::ModelConfig> Graph(const std::string& entries, const std::string& endpoints = "") {
  return ModelConfigFromKerasJson(
      R"({"class_name": "Functional", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 4, 4, 2], "name": "in"},
           "name": "in", "inbound_nodes": []}, )" +
          entries + "]" + endpoints + "}}",
      "g.json");
}

TEST(KerasJsonCnnTest, SeveralInputsOrOutputsAndSharedLayersAreUnimplemented) {
  const std::string a = Node("Flatten", "a", "", Tensor("in"));
  const std::pair<std::string, std::string> cases[] = {
      {Graph(a, R"(, "input_layers": [["in", 0, 0], ["in2", 0, 0]])").status().message(),
       "g.json: models with several inputs or outputs are not supported (input_layers 2"},
      {Graph(a, R"(, "output_layers": [["a", 0, 0], ["in", 0, 0]])").status().message(),
       "output_layers 2)"},
      {Graph(R"({"class_name": "InputLayer", "config": {"batch_shape": [null, 3], "name": "in2"}})")
           .status()
           .message(),
       "g.json: layer 'in2' (InputLayer): a second input"},
      {Graph(R"({"class_name": "Flatten", "config": {"name": "a"}, "inbound_nodes": [
                 [["in", 0, 0, {}]], [["in", 0, 0, {}]]]})")
           .status()
           .message(),
       "g.json: layer 'a' (Flatten): a layer called more than once (shared) is not supported"},
      {Graph(R"({"class_name": "Flatten", "config": {"name": "a"}, "inbound_nodes": [
                 [["in", 0, 1, {}]]]})")
           .status()
           .message(),
       "an input from a layer with several outputs is not supported"},
      {Graph(R"({"class_name": "Flatten", "config": {"name": "a"}, "inbound_nodes": [
                 {"args": [)" +
             Tensor("in") + R"(], "kwargs": {"mask": )" + Tensor("in") + "}}]}")
           .status()
           .message(),
       "a Keras tensor passed as a keyword argument is not supported"},
  };
  for (const auto& [message, expected] : cases) {
    EXPECT_NE(message.find(expected), std::string::npos) << message;
  }
  EXPECT_EQ(Graph(a, R"(, "output_layers": [["a", 0, 0], ["in", 0, 0]])").status().code(),
            StatusCode::kUnimplemented);
}

TEST(KerasJsonCnnTest, BrokenGraphsAreInvalidArgumentNamingTheLayer) {
  const std::pair<std::string, std::string> cases[] = {
      {Node("Flatten", "a", "", Tensor("later")),
       "g.json: layer 'a' (Flatten): reads 'later', which is not a layer listed before it"},
      {Node("Flatten", "a", "", Tensor("in")) + ", " + Node("Flatten", "a", "", Tensor("a")),
       "g.json: layer 'a' (Flatten): the name is used by an earlier layer"},
      {R"({"class_name": "Flatten", "config": {"name": "a"}, "inbound_nodes": []})",
       "g.json: layer 'a' (Flatten): has no inbound_nodes"},
      {R"({"class_name": "Flatten", "config": {"name": "a"}, "inbound_nodes": [[["in", 0]]]})",
       "inbound tensor [\"in\",0] is not [\"layer name\", node index, tensor index, kwargs]"},
      {R"({"class_name": "Flatten", "config": {"name": "a"}, "inbound_nodes": 3})",
       "inbound_nodes must be a list, got 3"},
  };
  for (const auto& [entries, expected] : cases) {
    auto config = Graph(entries);
    ASSERT_FALSE(config.ok()) << entries;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
    EXPECT_NE(config.status().message().find(expected), std::string::npos) << config.status();
  }
  auto not_last = Graph(Node("Flatten", "a", "", Tensor("in")) + ", " +
                            Node("Dense", "b", R"(, "units": 2)", Tensor("a")),
                        R"(, "output_layers": [["a", 0, 0]])");
  EXPECT_EQ(not_last.status().message(),
            "g.json: the output layer 'a' is not the last layer listed ('b')");
}

TEST(KerasJsonCnnTest, FieldsOfTheWrongTypeOrUnsupportedValuesNameLayerAndField) {
  struct Case {
    const char* class_name;
    const char* fields;
    const char* expected;
  };
  const Case cases[] = {
      {"Conv2D", R"("kernel_size": 3)", "filters is missing"},
      {"Conv2D", R"("filters": "8", "kernel_size": 3)",
       "filters must be a positive integer, got \"8\""},
      {"Conv2D", R"("filters": 8)", "kernel_size is missing"},
      {"Conv2D", R"("filters": 8, "kernel_size": "3")",
       "kernel_size must be a positive integer or a list of one or two of them, got \"3\""},
      {"Conv2D", R"("filters": 8, "kernel_size": [3, 3, 3])", "kernel_size must be"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "strides": [0, 1])",
       "strides must be a positive integer or a list of one or two of them, got [0,1]"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "padding": "causal")",
       "padding \"causal\" is not supported (valid or same)"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "padding": 1)",
       "padding must be \"valid\" or \"same\", got 1"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "data_format": "channels_first")",
       "data_format \"channels_first\" is not supported (channels_last only)"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "dilation_rate": [2, 2])",
       "dilation_rate [2,2] is not supported (1 only)"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "groups": 2)",
       "groups 2 is not supported (1 only)"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "groups": "1")",
       "groups must be an integer or a list of integers, got \"1\""},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "use_bias": 1)",
       "use_bias must be true or false, got 1"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "activation": "elu")",
       "unsupported activation 'elu'"},
      {"Conv2D", R"("filters": 8, "kernel_size": 3, "bias_constraint": {"class_name": "NonNeg"})",
       "option bias_constraint"},
      {"MaxPooling2D", R"("pool_size": [2, "2"])", "pool_size must be"},
      {"AveragePooling2D", R"("pool_size": 2, "strides": [1, 1, 1])", "strides must be"},
      {"AveragePooling2D", R"("data_format": 5)", "data_format must be a string, got 5"},
      {"GlobalAveragePooling2D", R"("keepdims": "yes")", "keepdims must be true or false"},
      {"GlobalAveragePooling2D", R"("data_format": "channels_first")", "data_format"},
      {"Reshape", "", "target_shape is missing"},
      {"Reshape", R"("target_shape": [-1, -1])",
       "target_shape must be a list of positive integers (one may be -1)"},
      {"Reshape", R"("target_shape": [0])", "target_shape must be"},
      {"Reshape", R"("target_shape": 16)", "target_shape must be"},
      {"BatchNormalization", R"("axis": 1)",
       "axis 1 is not supported: only the last axis (-1) is (input rank 4 with the batch)"},
      {"BatchNormalization", R"("axis": [1, 2, 3])", "axis must be an integer (the last axis, -1)"},
      {"BatchNormalization", R"("momentum": "0.9")",
       "momentum must be a number in [0, 1], got \"0.9\""},
      {"BatchNormalization", R"("epsilon": 0)", "epsilon must be a number > 0, got 0"},
      {"BatchNormalization", R"("center": null, "scale": 2)",
       "scale must be true or false (or 0 or 1), got 2"},
      {"BatchNormalization", R"("synchronized": "no")", "synchronized must be true or false"},
      {"BatchNormalization", R"("renorm": true)", "renorm true is not supported"},
      {"BatchNormalization", R"("virtual_batch_size": 8)", "option virtual_batch_size"},
      {"BatchNormalization", R"("gamma_initializer": "Foo")",
       "gamma_initializer \"Foo\" is not a Keras initializer"},
      {"Flatten", R"("data_format": "channels_first")",
       "data_format \"channels_first\" is not supported"},
  };
  for (const Case& c : cases) {
    const std::string json = Keras3Sequential(
        "[null, 4, 4, 2]", Entry(c.class_name, std::string(R"({"name": "x")") +
                                                   (*c.fields ? ", " : "") + c.fields + "}"));
    auto config = ModelConfigFromKerasJson(json, "m.json");
    ASSERT_FALSE(config.ok()) << c.class_name << " " << c.fields;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
    const std::string prefix = std::string("m.json: layer 'x' (") + c.class_name + "): ";
    EXPECT_NE(config.status().message().find(prefix + c.expected), std::string::npos)
        << c.fields << " -> " << config.status();
  }
  // Concatenate over another axis than the last.
  auto cat = Graph(
      Node("Concatenate", "c", R"(, "axis": 1)", "[" + Tensor("in") + ", " + Tensor("in") + "]"));
  EXPECT_EQ(cat.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cat.status().message().find("layer 'c' (Concatenate): axis 1 is not supported"),
            std::string::npos)
      << cat.status();
  EXPECT_TRUE(Graph(Node("Concatenate", "c", R"(, "axis": 3)",
                         "[" + Tensor("in") + ", " + Tensor("in") + "]"))
                  .ok());
}

// Export -> import -> export: the config read back is read back again from
// its own export unchanged, and both exports are the same JSON.
void ExpectRoundTrip(const config::ModelConfig& original, KerasJsonFlavor flavor,
                     std::string* first_json) {
  config::JobConfig job;
  *job.mutable_model() = original;
  auto model = Model::Create(job.model(), 2, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  *first_json = KerasModelJson(job, **model, flavor, /*compile=*/false);
  auto back = ModelConfigFromKerasJson(*first_json, "export");
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << *first_json;
  *job.mutable_model() = *back;
  auto rebuilt = Model::Create(job.model(), 2, kernels::SharedCpuBackend());
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  EXPECT_EQ((*rebuilt)->parameters().size(), (*model)->parameters().size());
  EXPECT_EQ(KerasModelJson(job, **rebuilt, flavor, false), *first_json);
  auto again = ModelConfigFromKerasJson(KerasModelJson(job, **rebuilt, flavor, false), "again");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ShortDebugString(), back->ShortDebugString());
}

TEST(KerasJsonCnnTest, GraphsExportAsFunctionalAndRoundTrip) {
  auto graph = ModelConfigFromKerasJson(kKeras2Graph, "k2.json");
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::string k3, k2;
  ExpectRoundTrip(*graph, KerasJsonFlavor::kKeras3, &k3);
  ExpectRoundTrip(*graph, KerasJsonFlavor::kKeras2, &k2);
  // Keras 3 (spec keras-formats.md 5.2): Functional, the InputLayer first, every layer named
  // with its inbound node; Add/Concatenate take a list as their one argument.
  EXPECT_EQ(k3.rfind(R"({"module":"keras.src.models.functional","class_name":"Functional",)"
                     R"("config":{"name":"functional","trainable":true,"layers":[{"module":)"
                     R"("keras.layers","class_name":"InputLayer","config":{"batch_shape":)"
                     R"([null,8,8,3],"dtype":"float32","sparse":false,"name":"img"},)"
                     R"("registered_name":null,"name":"img","inbound_nodes":[]},)",
                     0),
            0u)
      << k3;
  const std::string keras_tensor = R"({"class_name":"__keras_tensor__","config":{"shape":)";
  EXPECT_NE(
      k3.find(R"("name":"add","inbound_nodes":[{"args":[[)" + keras_tensor +
              R"([null,8,8,4],"dtype":"float32","keras_history":["relu",0,0]}},)" + keras_tensor +
              R"([null,8,8,4],"dtype":"float32","keras_history":["shortcut",0,0]}}]],)"
              R"("kwargs":{}}]})"),
      std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("name":"shortcut","inbound_nodes":[{"args":[)" + keras_tensor +
                    R"([null,8,8,3],"dtype":"float32","keras_history":["img",0,0]}}],)"),
            std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("registered_name":null,"build_config":{"input_shape":[null,8,8,3]},)"
                    R"("name":"conv",)"),
            std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("input_layers":[["img",0,0]],"output_layers":[["out",0,0]]},)"
                    R"("registered_name":"Functional","build_config":{"input_shape":null}})"),
            std::string::npos)
      << k3;
  // Keras 2: [name, 0, 0, {}] tensors, the model named "model".
  EXPECT_EQ(k2.rfind(R"({"class_name":"Functional","config":{"name":"model","trainable":true,)"
                     R"("layers":[{"class_name":"InputLayer","config":{"batch_input_shape":)"
                     R"([null,8,8,3],"dtype":"float32","sparse":false,"ragged":false,"name":)"
                     R"("img"},"name":"img","inbound_nodes":[]},)",
                     0),
            0u)
      << k2;
  EXPECT_NE(k2.find(R"("name":"cat","inbound_nodes":[[["add",0,0,{}],["img",0,0,{}]]]})"),
            std::string::npos)
      << k2;
  EXPECT_EQ(k2.find("\"module\""), std::string::npos);
}

TEST(KerasJsonCnnTest, ChainsOfImageLayersExportAsSequentialAndRoundTrip) {
  auto cnn = ParseJobConfig(R"pb(
                              model {
                                input_shape: [ 28, 28, 1 ]
                                layers {
                                  conv2d {
                                    filters: 8
                                    kernel_size: [ 3 ]
                                    activation: RELU
                                  }
                                }
                                layers { max_pooling2d {} }
                                layers { batch_normalization { momentum: 0.9 } }
                                layers {
                                  conv2d {
                                    filters: 4
                                    kernel_size: [ 3, 1 ]
                                    strides: [ 2 ]
                                    padding: SAME
                                  }
                                }
                                layers {
                                  average_pooling2d {
                                    pool_size: [ 3 ]
                                    strides: [ 1 ]
                                    padding: SAME
                                  }
                                }
                                layers { global_average_pooling2d { keepdims: true } }
                                layers { reshape { target_shape: [ 2, -1 ] } }
                                layers { flatten {} }
                                layers { dense { units: 10 } }
                              })pb",
                            "cnn");
  ASSERT_TRUE(cnn.ok()) << cnn.status();
  std::string k3, k2;
  ExpectRoundTrip(cnn->model(), KerasJsonFlavor::kKeras3, &k3);
  ExpectRoundTrip(cnn->model(), KerasJsonFlavor::kKeras2, &k2);
  EXPECT_EQ(k3.rfind(R"({"module":"keras","class_name":"Sequential",)", 0), 0u) << k3;
  EXPECT_NE(k3.find(R"({"module":"keras.layers","class_name":"Conv2D","config":{"name":"conv2d",)"
                    R"("trainable":true,"dtype":"float32","filters":8,"kernel_size":[3,3],)"
                    R"("strides":[1,1],"padding":"valid","data_format":"channels_last",)"
                    R"("dilation_rate":[1,1],"groups":1,"activation":"relu","use_bias":true,)"),
            std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("registered_name":null,"build_config":{"input_shape":[null,28,28,1]}})"),
            std::string::npos)
      << k3;
  // The BatchNormalization after 26x26 -> 13x13 pooling is built on (13, 13, 8).
  EXPECT_NE(k3.find(R"("class_name":"BatchNormalization","config":{"name":"batch_normalization",)"
                    R"("trainable":true,"dtype":"float32","axis":-1,"momentum":0.8999999761581421,)"
                    R"("epsilon":0.0010000000474974513,"center":true,"scale":true,)"),
            std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("synchronized":false},"registered_name":null,"build_config":)"
                    R"({"input_shape":[null,13,13,8]}})"),
            std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("class_name":"MaxPooling2D","config":{"name":"max_pooling2d",)"
                    R"("trainable":true,"dtype":"float32","pool_size":[2,2],"padding":"valid",)"
                    R"("strides":[2,2],"data_format":"channels_last"})"),
            std::string::npos)
      << k3;
  EXPECT_NE(k3.find(R"("kernel_size":[3,1],"strides":[2,2],"padding":"same")"), std::string::npos);
  EXPECT_NE(k3.find(R"("pool_size":[3,3],"padding":"same","strides":[1,1])"), std::string::npos);
  EXPECT_NE(k3.find(R"("keepdims":true)"), std::string::npos);
  EXPECT_NE(k3.find(R"("target_shape":[2,2])"), std::string::npos) << k3;
  // Keras 2: no synchronized key (tf.keras before 2.12 refuses it).
  EXPECT_EQ(k2.find("synchronized"), std::string::npos) << k2;
  EXPECT_NE(k2.find(R"({"class_name":"Sequential","config":{"name":"sequential","layers":[)"),
            std::string::npos)
      << k2;
}

}  // namespace
}  // namespace shardtrain::model
