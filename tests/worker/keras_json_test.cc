// Keras model JSON <-> ModelConfig: the real to_json files in
// shared/testdata/keras load with the right layers; our JSON round-trips;
// unsupported pieces are errors naming them; a registered custom layer loads
// from JSON, trains and keeps its config; trainable: false is read and
// written. The image and graph layers: keras_json_cnn_test.cc.
#include "kernels/backend.h"
#include "worker/model/keras_json.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::model {
namespace {

std::string Testdata(const std::string& name) {
  return std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/keras/" + name;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "dense:32:RELU" per layer, to compare compactly.
std::string Describe(const config::ModelConfig& m) {
  std::string out = "input";
  for (int64_t d : m.input_shape()) out += ":" + std::to_string(d);
  for (const auto& l : m.layers()) {
    out += " " + l.name();
    if (l.has_dense()) {
      out += ":" + std::to_string(l.dense().units()) + ":" +
             config::Activation_Name(l.dense().activation());
    } else if (l.has_dropout()) {
      out += ":" + std::to_string(l.dropout().rate()).substr(0, 4);
    } else if (l.has_activation()) {
      out += ":" + config::Activation_Name(l.activation().activation());
    } else if (l.has_custom()) {
      out += ":" + l.custom().registered_name();
    }
  }
  return out;
}

TEST(KerasJsonTest, ReadsRealKerasJsonFiles) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"k3_seq_mlp.to_json.json", "input:20 dense:32:RELU dropout:0.20 dense_1:10:LINEAR"},
      {"k3_func_mlp.to_json.json",
       "input:784 dense_1:64:RELU dense_2:64:RELU predictions:10:LINEAR"},
      {"hls4ml_KERAS_3layer.json",
       "input:16 fc1_relu:64:RELU fc2_relu:32:RELU fc3_relu:32:RELU output_softmax:5:SOFTMAX"},
      {"hls4ml_KERAS_mnist_mlp.json",
       "input:784 dense_1:256:RELU dropout_1:0.20 dense_2:256:RELU dropout_2:0.20 "
       "dense_3:10:SOFTMAX"},
  };
  for (const auto& [file, expected] : cases) {
    if (!std::ifstream(Testdata(file))) GTEST_SKIP() << "shared/testdata/keras absent: " << file;
    auto config = ModelConfigFromKerasJson(ReadText(Testdata(file)), file);
    ASSERT_TRUE(config.ok()) << file << ": " << config.status();
    EXPECT_EQ(Describe(*config), expected) << file;
  }
}

config::JobConfig ReferenceJob() {
  auto job = LoadJobConfig(std::string(SHARDTRAIN_SOURCE_DIR) + "/configs/fashion_mlp.textproto");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

TEST(KerasJsonTest, OurJsonRoundTripsInBothFlavors) {
  config::JobConfig job = ReferenceJob();
  auto model = Model::Create(job.model(), 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok());
  for (auto flavor : {KerasJsonFlavor::kKeras3, KerasJsonFlavor::kKeras2}) {
    const std::string json = KerasModelJson(job, **model, flavor, /*compile=*/true);
    auto back = ModelConfigFromKerasJson(json, "ours");
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
    EXPECT_EQ(Describe(*back), "input:784 dense:512:RELU dropout:0.20 dense_1:10:LINEAR");
  }
  // Keras 3 form (spec §5.1, minimal keys of §7): module on every object, InputLayer first.
  const std::string k3 = KerasModelJson(job, **model, KerasJsonFlavor::kKeras3, true);
  EXPECT_EQ(k3.rfind("{\"module\":\"keras\",\"class_name\":\"Sequential\",\"config\":{\"name\":"
                     "\"sequential\",\"trainable\":true,\"dtype\":\"float32\",\"layers\":[{"
                     "\"module\":\"keras.layers\",\"class_name\":\"InputLayer\",\"config\":{"
                     "\"batch_shape\":[null,784],",
                     0),
            0u)
      << k3;
  EXPECT_NE(k3.find("\"build_config\":{\"input_shape\":[null,784]}"), std::string::npos);
  EXPECT_NE(k3.find("\"learning_rate\":0.0010000000474974513"), std::string::npos) << k3;
  EXPECT_NE(k3.find("\"reduction\":\"sum_over_batch_size\""), std::string::npos);
  EXPECT_EQ(k3.find("quantization_config"), std::string::npos);
  // Keras 2 form: legacy wrappers, InputLayer named after the first layer.
  const std::string k2 = KerasModelJson(job, **model, KerasJsonFlavor::kKeras2, false);
  EXPECT_NE(
      k2.find("{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,784],"
              "\"dtype\":\"float32\",\"sparse\":false,\"ragged\":false,\"name\":\"dense_input\"}}"),
      std::string::npos)
      << k2;
  EXPECT_EQ(k2.find("\"module\""), std::string::npos);
  const std::string training = KerasTrainingConfigJson(job);
  EXPECT_NE(
      training.find("\"optimizer_config\":{\"class_name\":\"Adam\",\"config\":{\"name\":\"Adam\""),
      std::string::npos)
      << training;
  EXPECT_EQ(training.find("is_legacy_optimizer"), std::string::npos);
  EXPECT_EQ(training.find("decay"), std::string::npos);
}

// "accuracy" is compiled as the metric Keras resolves it to: BinaryAccuracy
// (threshold 0.5) for binary_crossentropy, SparseCategoricalAccuracy for class ids.
TEST(KerasJsonTest, AccuracyIsBinaryAccuracyWithBinaryCrossentropy) {
  auto job = ParseJobConfig(R"pb(
                              model {
                                input_shape: [ 12 ]
                                layers { dense { units: 1 activation: SIGMOID } }
                              }
                              loss { binary_crossentropy {} }
                              optimizer { adam {} }
                              metrics: "accuracy"
                              data { dir: "unused" num_classes: 2 }
                              training { batch_size: 8 epochs: 1 }
                            )pb",
                            "binary");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(ValidateJobConfig(&*job).ok());
  auto model = Model::Create(job->model(), 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok());
  const std::string k3 = KerasModelJson(*job, **model, KerasJsonFlavor::kKeras3, true);
  EXPECT_NE(k3.find("\"metrics\":[{\"module\":\"keras.metrics\",\"class_name\":\"BinaryAccuracy\","
                    "\"config\":{\"name\":\"binary_accuracy\",\"dtype\":\"float32\","
                    "\"threshold\":0.5},\"registered_name\":null}]"),
            std::string::npos)
      << k3;
  EXPECT_EQ(k3.find("SparseCategoricalAccuracy"), std::string::npos);
  const std::string training = KerasTrainingConfigJson(*job);
  EXPECT_NE(training.find("\"metrics\":[[{\"class_name\":\"BinaryAccuracy\""), std::string::npos)
      << training;
  const std::string sparse = KerasTrainingConfigJson(ReferenceJob());
  EXPECT_NE(sparse.find("SparseCategoricalAccuracy"), std::string::npos) << sparse;
}

// With VECTOR labels "accuracy" is CategoricalAccuracy (Keras 3 resolves it
// from the shapes: more than one value per target), and the loss's
// label_smoothing is written as configured.
TEST(KerasJsonTest, VectorLabelsCompileCategoricalAccuracyAndLabelSmoothing) {
  auto job =
      ParseJobConfig(R"pb(
                       model {
                         input_shape: [ 12 ]
                         layers { dense { units: 3 } }
                       }
                       loss { categorical_crossentropy { from_logits: true label_smoothing: 0.25 } }
                       optimizer { adam {} }
                       metrics: "accuracy"
                       data {
                         train_files: "unused"
                         label { key: "y" kind: VECTOR size: 3 }
                         features {
                           key: "x"
                           type: FLOAT_LIST
                           shape: [ 12 ]
                         }
                       }
                       training { batch_size: 8 epochs: 1 }
                     )pb",
                     "vector");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(ValidateJobConfig(&*job).ok()) << ValidateJobConfig(&*job);
  const std::string training = KerasTrainingConfigJson(*job);
  EXPECT_NE(training.find("\"metrics\":[[{\"class_name\":\"CategoricalAccuracy\""),
            std::string::npos)
      << training;
  EXPECT_NE(training.find("\"label_smoothing\":0.25"), std::string::npos) << training;
}

// Keras's trainable=False (issue 25: it was ignored on import and always
// written as true, so frozen layers were silently trained).
TEST(KerasJsonTest, TrainableFalseIsReadAndWritten) {
  auto frozen = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "Dense", "config": {"name": "base", "units": 4, "trainable": false,
                                              "batch_input_shape": [null, 6]}},
          {"class_name": "Dense", "config": {"name": "head", "units": 2, "trainable": true}}]}})",
      "m.json");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_TRUE(frozen->layers(0).has_trainable());
  EXPECT_FALSE(frozen->layers(0).trainable());
  EXPECT_FALSE(frozen->layers(1).has_trainable());  // true: the field stays absent, as before
  // model.trainable = False freezes every layer.
  auto whole = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"trainable": false, "layers": [
          {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [null, 6]}}]}})",
      "m.json");
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_FALSE(whole->layers(0).trainable());

  config::JobConfig job = ReferenceJob();
  for (auto flavor : {KerasJsonFlavor::kKeras3, KerasJsonFlavor::kKeras2}) {
    auto all_trainable = Model::Create(job.model(), 1, kernels::SharedCpuBackend());
    ASSERT_TRUE(all_trainable.ok());
    auto back =
        ModelConfigFromKerasJson(KerasModelJson(job, **all_trainable, flavor, false), "ours");
    ASSERT_TRUE(back.ok());
    for (const auto& layer : back->layers()) EXPECT_FALSE(layer.has_trainable()) << layer.name();
  }
  job.mutable_model()->mutable_layers(0)->set_trainable(false);
  auto model = Model::Create(job.model(), 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  for (auto flavor : {KerasJsonFlavor::kKeras3, KerasJsonFlavor::kKeras2}) {
    const std::string json = KerasModelJson(job, **model, flavor, /*compile=*/true);
    EXPECT_NE(json.find("\"config\":{\"name\":\"dense\",\"trainable\":false,"), std::string::npos)
        << json;
    EXPECT_NE(json.find("\"config\":{\"name\":\"dense_1\",\"trainable\":true,"), std::string::npos)
        << json;
    auto back = ModelConfigFromKerasJson(json, "ours");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_FALSE(back->layers(0).trainable());
    EXPECT_FALSE(back->layers(2).has_trainable());
  }
}

TEST(KerasJsonTest, UnsupportedPiecesAreNamed) {
  auto conv = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8, 8, 1], "name": "in"}},
          {"module": "keras.layers", "class_name": "Conv3D", "config": {"name": "conv3d", "filters": 4},
           "registered_name": null}]}})",
      "m.json");
  ASSERT_FALSE(conv.ok());
  EXPECT_EQ(conv.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(conv.status().message().find("m.json: layer 'conv3d' (Conv3D): unsupported layer class "
                                         "'Conv3D'"),
            std::string::npos)
      << conv.status();
  EXPECT_NE(conv.status().message().find("supported are InputLayer, Dense, Dropout, Flatten, "
                                         "Activation, Conv2D, MaxPooling2D"),
            std::string::npos)
      << conv.status();
  EXPECT_NE(conv.status().message().find("RegisterLayer(\"Conv3D\""), std::string::npos);
  auto elu = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "elu",
                                              "batch_input_shape": [null, 4]}}]}})",
      "m.json");
  EXPECT_NE(elu.status().message().find("unsupported activation 'elu'"), std::string::npos);
  auto regularized = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "Dense", "config": {"name": "d", "units": 3, "batch_input_shape": [null, 4],
           "bias_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}}}]}})",
      "m.json");
  EXPECT_NE(regularized.status().message().find("option bias_regularizer"), std::string::npos);
  auto branch = ModelConfigFromKerasJson(
      R"({"class_name": "Functional", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}, "name": "in", "inbound_nodes": []},
          {"class_name": "Dense", "config": {"name": "a", "units": 3}, "name": "a", "inbound_nodes": [[["in", 0, 0, {}]]]},
          {"class_name": "Dense", "config": {"name": "b", "units": 3}, "name": "b", "inbound_nodes": [[["in", 0, 0, {}]]]}]}})",
      "m.json");
  // A graph now reads (b takes the input by name); the model refuses the unused layer 'a'.
  ASSERT_TRUE(branch.ok()) << branch.status();
  EXPECT_EQ(branch->layers(1).inputs_size(), 1);
  EXPECT_EQ(branch->input_name(), "in");
  auto unused = Model::Create(*branch, 1, kernels::SharedCpuBackend());
  EXPECT_EQ(unused.status().code(), StatusCode::kInvalidArgument) << unused.status();
  EXPECT_NE(unused.status().message().find("'a'"), std::string::npos) << unused.status();
  EXPECT_EQ(ModelConfigFromKerasJson("{nope", "m.json").status().message(),
            "m.json: not valid JSON");
}

// A layer called with training=True/False runs in that mode in Keras whatever
// fit or predict ask (Monte Carlo dropout, a BatchNormalization kept on its
// moving statistics); ours would follow fit's mode, so both JSON flavours are
// refused naming the layer, and training=None reads as before.
TEST(KerasJsonTest, ACallWithAFixedTrainingModeIsUnimplemented) {
  const std::string keras2 =
      R"({"class_name": "Functional", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "name": "in"}, "name": "in", "inbound_nodes": []},
          {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.3}, "name": "drop", "inbound_nodes": [[["in", 0, 0, KWARGS]]]},
          {"class_name": "Dense", "config": {"name": "d", "units": 3}, "name": "d", "inbound_nodes": [[["drop", 0, 0, {}]]]}]}})";
  const std::string keras3 =
      R"({"class_name": "Functional", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 4], "name": "in"}, "name": "in", "inbound_nodes": []},
          {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.3}, "name": "drop", "inbound_nodes": [
            {"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32", "keras_history": ["in", 0, 0]}}],
             "kwargs": KWARGS}]},
          {"class_name": "Dense", "config": {"name": "d", "units": 3}, "name": "d", "inbound_nodes": [
            {"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 4], "dtype": "float32", "keras_history": ["drop", 0, 0]}}],
             "kwargs": {}}]}]}})";
  for (const std::string& flavour : {keras2, keras3}) {
    auto with = [&](const std::string& kwargs) {
      std::string json = flavour;
      json.replace(json.find("KWARGS"), 6, kwargs);
      return ModelConfigFromKerasJson(json, "m.json");
    };
    for (const std::string fixed : {R"({"training": true})", R"({"training": false})"}) {
      auto refused = with(fixed);
      ASSERT_FALSE(refused.ok()) << fixed;
      EXPECT_EQ(refused.status().code(), StatusCode::kUnimplemented) << refused.status();
      EXPECT_NE(refused.status().message().find("'drop'"), std::string::npos) << refused.status();
      EXPECT_NE(refused.status().message().find("a call with training="), std::string::npos)
          << refused.status();
    }
    auto unset = with(R"({"training": null})");
    EXPECT_TRUE(unset.ok()) << unset.status();
  }
}

// A one-layer Sequential whose Dense config is `{"name": "d", "batch_input_shape": [null, 4],
// <fields>}`.
StatusOr<config::ModelConfig> DenseJson(const std::string& fields) {
  return ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {)"
      R"("name": "d", "batch_input_shape": [null, 4], )" +
          fields + "}}]}}",
      "m.json");
}

TEST(KerasJsonTest, GeluAndKernelRegularizersAreReadAndRoundTrip) {
  auto gelu = DenseJson(
      R"("units": 3, "activation": "gelu",
         "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.009999999776482582}})");
  ASSERT_TRUE(gelu.ok()) << gelu.status();
  EXPECT_EQ(gelu->layers(0).dense().activation(), config::GELU);
  EXPECT_FLOAT_EQ(gelu->layers(0).dense().kernel_regularizer().l2(), 0.01f);
  EXPECT_EQ(gelu->layers(0).dense().kernel_regularizer().l1(), 0.0f);
  // Keras 3: the function object form and module-qualified regularizers; defaults as Keras's.
  auto k3 = DenseJson(
      R"("units": 3, "activation": {"module": "keras.activations", "class_name": "function",
         "config": "gelu", "registered_name": "function"},
         "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L1L2",
                                "config": {"l1": 0.5, "l2": 0.25}, "registered_name": null})");
  ASSERT_TRUE(k3.ok()) << k3.status();
  EXPECT_EQ(k3->layers(0).dense().activation(), config::GELU);
  EXPECT_EQ(k3->layers(0).dense().kernel_regularizer().l1(), 0.5f);
  EXPECT_EQ(k3->layers(0).dense().kernel_regularizer().l2(), 0.25f);
  auto l1_default =
      DenseJson(R"("units": 3, "kernel_regularizer": {"class_name": "L1", "config": {}})");
  ASSERT_TRUE(l1_default.ok()) << l1_default.status();
  EXPECT_FLOAT_EQ(l1_default->layers(0).dense().kernel_regularizer().l1(), 0.01f);
  // Written back as Keras writes them, in both flavors, and read again.
  config::JobConfig job = ReferenceJob();
  *job.mutable_model() = *k3;
  auto model = Model::Create(job.model(), 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  for (auto flavor : {KerasJsonFlavor::kKeras3, KerasJsonFlavor::kKeras2}) {
    const std::string json = KerasModelJson(job, **model, flavor, false);
    EXPECT_NE(json.find("\"activation\":\"gelu\""), std::string::npos) << json;
    EXPECT_NE(json.find(flavor == KerasJsonFlavor::kKeras3
                            ? "\"kernel_regularizer\":{\"module\":\"keras.regularizers\","
                              "\"class_name\":\"L1L2\",\"config\":{\"l1\":0.5,\"l2\":0.25},"
                              "\"registered_name\":null}"
                            : "\"kernel_regularizer\":{\"class_name\":\"L1L2\",\"config\":{"
                              "\"l1\":0.5,\"l2\":0.25}}"),
              std::string::npos)
        << json;
    auto back = ModelConfigFromKerasJson(json, "ours");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->layers(0).dense().activation(), config::GELU);
    EXPECT_EQ(back->layers(0).dense().kernel_regularizer().ShortDebugString(), "l1: 0.5 l2: 0.25");
  }
}

// Issue 24: a field of the wrong type threw nlohmann::json::type_error
// (SIGABRT), "units": "5" was reported as missing, and "activation": 5,
// "use_bias": "yes" and unknown initializers were accepted silently.
TEST(KerasJsonTest, FieldsOfTheWrongTypeAreInvalidArgumentNamingLayerAndField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"("units": "5")", "units must be a positive integer, got \"5\""},
      {R"("units": 1.5)", "units must be a positive integer, got 1.5"},
      {R"("units": 0)", "units must be a positive integer, got 0"},
      {R"("units": 18446744073709551615)", "units must be a positive integer"},
      {R"("units": 3, "activation": 5)", "activation must be a name such as \"relu\", got 5"},
      {R"("units": 3, "use_bias": "yes")", "use_bias must be true or false, got \"yes\""},
      {R"("units": 3, "trainable": "no")", "trainable must be true or false"},
      {R"("units": 3, "kernel_initializer": {"class_name": "Foo", "config": {}})",
       "kernel_initializer {\"class_name\":\"Foo\",\"config\":{}} is not a Keras initializer"},
      {R"("units": 3, "bias_initializer": 7)", "bias_initializer 7 is not a Keras initializer"},
      {R"("units": 3, "kernel_regularizer": {"class_name": "L2", "config": {"l2": "0.01"}})",
       "kernel_regularizer: l2 must be a finite number >= 0, got \"0.01\""},
      {R"("units": 3, "kernel_regularizer": {"class_name": "L2", "config": {"l2": -1}})",
       "kernel_regularizer: l2 must be a finite number >= 0, got -1"},
      {R"("units": 3, "kernel_regularizer": {"class_name": "OrthogonalRegularizer"})",
       "kernel_regularizer {\"class_name\":\"OrthogonalRegularizer\"} is not supported"},
      {R"("units": 3, "kernel_regularizer": "l2")", "kernel_regularizer \"l2\" is not supported"},
      {R"("units": 3, "dtype": 5)", "dtype must be a string or a DTypePolicy"},
  };
  for (const auto& [fields, expected] : cases) {
    auto config = DenseJson(fields);
    ASSERT_FALSE(config.ok()) << fields;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
    EXPECT_NE(config.status().message().find(std::string("m.json: layer 'd' (Dense): ") + expected),
              std::string::npos)
        << fields << " -> " << config.status();
  }
  const std::pair<const char*, const char*> dropouts[] = {
      {R"("rate": "0.2")", "rate must be a number in [0, 1), got \"0.2\""},
      {R"("rate": 1.5)", "rate must be a number in [0, 1), got 1.5"},
      {R"("rate": 0.2, "seed": "x")", "seed must be an integer or null"},
  };
  for (const auto& [fields, expected] : dropouts) {
    auto config = ModelConfigFromKerasJson(
        std::string(R"({"class_name": "Sequential", "config": {"layers": [)"
                    R"({"class_name": "Dropout", "config": {"name": "drop", )") +
            R"("batch_input_shape": [null, 4], )" + fields + "}}]}}",
        "m.json");
    ASSERT_FALSE(config.ok()) << fields;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
    EXPECT_NE(config.status().message().find(std::string("layer 'drop' (Dropout): ") + expected),
              std::string::npos)
        << config.status();
  }
  // A Keras 3 inbound node whose keras_history is not a list threw type_error too; it names it.
  auto history = ModelConfigFromKerasJson(
      R"({"class_name": "Functional", "config": {"layers": [
          {"class_name": "InputLayer", "config": {"batch_shape": [null, 4], "name": "in"}, "name": "in", "inbound_nodes": []},
          {"class_name": "Dense", "config": {"name": "a", "units": 3}, "name": "a",
           "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": 5}}]}]}]}})",
      "m.json");
  EXPECT_EQ(history.status().code(), StatusCode::kInvalidArgument) << history.status();
  EXPECT_NE(history.status().message().find("layer 'a' (Dense): inbound tensor 5 is not"),
            std::string::npos)
      << history.status();
}

// Issue 24: Dense units 1e7..1e12 and input_shape [1e12] aborted with
// std::bad_alloc. The JSON is read; building the model is ResourceExhausted
// naming the memory it would need.
TEST(KerasJsonTest, HugeSizesAreResourceExhaustedWhenBuilt) {
  for (const char* units : {"10000000", "1000000000000", "9223372036854775807"}) {
    auto config = ModelConfigFromKerasJson(
        std::string(R"({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense",)"
                    R"( "config": {"name": "d", "batch_input_shape": [null, 100000], "units": )") +
            units + "}}]}}",
        "m.json");
    ASSERT_TRUE(config.ok()) << config.status();
    auto model = Model::Create(*config, 32, kernels::SharedCpuBackend());
    ASSERT_FALSE(model.ok()) << units;
    EXPECT_EQ(model.status().code(), StatusCode::kResourceExhausted) << model.status();
    EXPECT_NE(model.status().message().find("GiB of memory"), std::string::npos) << model.status();
  }
  auto wide = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {
          "name": "d", "batch_input_shape": [null, 1000000000000], "units": 2}}]}})",
      "m.json");
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(Model::Create(*wide, 32, kernels::SharedCpuBackend()).status().code(),
            StatusCode::kResourceExhausted);
}

// Issue 24: a JSON of 2,000 Dropout layers reached 4 GB; it now builds with
// one dropout buffer.
TEST(KerasJsonTest, TwoThousandDropoutLayersBuildSmall) {
  std::string layers =
      R"({"class_name": "InputLayer", "config": {"batch_shape": [null, 784], "name": "in"}})";
  for (int i = 0; i < 2000; ++i) {
    layers += R"(, {"class_name": "Dropout", "config": {"name": "drop)" + std::to_string(i) +
              R"(", "rate": 0.2}})";
  }
  layers += R"(, {"class_name": "Dense", "config": {"name": "out", "units": 10}})";
  auto config = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [)" + layers + "]}}", "m.json");
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = Model::Create(*config, 1024, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  int64_t bytes = 0;
  for (const Model::Layer& layer : (*model)->layers()) bytes += layer.output.bytes();
  EXPECT_LE(bytes, int64_t{4} << 20);  // 3.2 MB + the head's 40 KB
}

// An example custom layer: y = x * scale (one weight per feature).
class ScaleLayer : public CustomLayer {
 public:
  explicit ScaleLayer(float init) : init_(init) {}
  StatusOr<int64_t> OutputSize(int64_t in) const override { return in; }
  std::vector<std::pair<std::string, Shape>> Weights(int64_t in) const override {
    return {{"scale", Shape{in}}};
  }
  void Initialize(int64_t in, const std::vector<float*>& w) const override {
    for (int64_t j = 0; j < in; ++j) w[0][j] = init_;
  }
  void Forward(const float* x, int64_t batch, int64_t in, const std::vector<const float*>& w,
               float* y) const override {
    for (int64_t i = 0; i < batch * in; ++i) y[i] = x[i] * w[0][i % in];
  }
  void Backward(const float* x, const float*, const float* dy, int64_t batch, int64_t in,
                const std::vector<const float*>& w, float* dx,
                const std::vector<float*>& dw) const override {
    for (int64_t j = 0; j < in; ++j) dw[0][j] = 0;
    for (int64_t i = 0; i < batch * in; ++i) {
      dw[0][i % in] += dy[i] * x[i];
      if (dx != nullptr) dx[i] = dy[i] * w[0][i % in];
    }
  }
  std::string ConfigJson() const override { return "{\"init\": " + std::to_string(init_) + "}"; }

 private:
  float init_;
};

TEST(KerasJsonTest, RegisteredCustomLayerLoadsTrainsAndRoundTrips) {
  const std::string json = R"({"module": "keras", "class_name": "Sequential", "config": {"layers": [
      {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 4], "name": "input_layer"}, "registered_name": null},
      {"module": "my_module", "class_name": "Scale", "config": {"name": "scale", "init": 0.5}, "registered_name": "test_pkg>Scale"},
      {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2}, "registered_name": null}]}})";
  auto unknown = ModelConfigFromKerasJson(json, "custom.json");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("registered_name 'test_pkg>Scale', module 'my_module'"),
            std::string::npos)
      << unknown.status();

  ASSERT_TRUE(
      RegisterLayer("test_pkg>Scale",
                    [](const std::string& config) -> StatusOr<std::unique_ptr<CustomLayer>> {
                      auto at = config.find("\"init\":");
                      if (at == std::string::npos) return InvalidArgumentError("Scale needs init");
                      return std::unique_ptr<CustomLayer>(
                          new ScaleLayer(std::stof(config.substr(at + 7))));
                    })
          .ok());
  EXPECT_EQ(RegisterLayer("test_pkg>Scale", nullptr).code(), StatusCode::kInvalidArgument);
  auto loaded = ModelConfigFromKerasJson(json, "custom.json");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(Describe(*loaded), "input:4 scale:test_pkg>Scale dense:2:LINEAR");

  config::JobConfig job;
  *job.mutable_model() = *loaded;
  job.mutable_loss()->mutable_sparse_categorical_crossentropy()->set_from_logits(true);
  job.mutable_data()->set_dir("unused");
  job.mutable_data()->set_num_classes(2);
  job.mutable_training()->set_batch_size(2);
  job.mutable_training()->set_epochs(1);
  ASSERT_TRUE(ValidateJobConfig(&job).ok());
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ParameterStore& params = (*trainer)->model().parameters();
  ASSERT_EQ(params.variable(0).name, "scale/scale");
  EXPECT_EQ(params.param(0)[3], 0.5f);
  data::Dataset d;
  d.num_examples = 2;
  d.feature_size = 4;
  d.features = {1, 0, 0, 1, 0, 1, 1, 0};
  d.labels = {0, 1};
  StepResult result;
  ASSERT_TRUE((*trainer)->Step(d.features.data(), data::TargetsOf(d, 0), {2, 0, 2}, &result).ok());
  EXPECT_NE(params.param(0)[0], 0.5f);  // the custom weight trained
  // Its config survives the export JSON.
  const std::string out = KerasModelJson(job, (*trainer)->model(), KerasJsonFlavor::kKeras3, false);
  EXPECT_NE(out.find("\"class_name\":\"Scale\",\"config\":{\"name\":\"scale\",\"trainable\":true,"
                     "\"dtype\":\"float32\",\"init\":0.5"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"registered_name\":\"test_pkg>Scale\""), std::string::npos);
}

}  // namespace
}  // namespace shardtrain::model
