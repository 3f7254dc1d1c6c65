// Keras files written by real Keras (shared/testdata/keras): each file whose
// architecture uses supported layers loads (architecture from its config or
// JSON, weights by layer name) and reproduces the README's recorded outputs
// through our Model; the others fail naming the unsupported piece. Our own
// writers round-trip (write → read → same weights, config and Adam state),
// frozen layers included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kernels/backend.h"
#include "storage/keras/keras_files.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::model {
namespace {

using storage::keras::KerasModelFile;

std::string Testdata(const std::string& name) {
  return std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/keras/" + name;
}

bool HaveTestdata() { return std::ifstream(Testdata("README.md")).good(); }

std::vector<float> ReadNumbers(const std::string& path) {
  std::ifstream in(path);
  std::vector<float> values;
  double v;
  while (in >> v) values.push_back(static_cast<float>(v));
  return values;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Builds the model of `config_json`, loads `file`'s weights by name (all must
// load), and runs `inputs` through it.
std::vector<float> Predict(const std::string& config_json, const KerasModelFile& file,
                           const std::vector<float>& inputs) {
  auto config = ModelConfigFromKerasJson(config_json, "config");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return {};
  auto model = Model::Create(*config, 16, kernels::SharedCpuBackend());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return {};
  auto report = LoadWeightsByName(file, model->get());
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok()) return {};
  EXPECT_TRUE(report->not_in_file.empty()) << report->Describe();
  auto backend = kernels::CreateCpuBackend();
  const int64_t rows = static_cast<int64_t>(inputs.size()) / (*model)->input_size();
  const float* out = (*model)->Forward(*backend, inputs.data(), rows, ForwardMode{}, false);
  return std::vector<float>(out, out + rows * (*model)->output_size());
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, double tolerance,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tolerance + 1e-5 * std::fabs(want[i])) << what << " element " << i;
  }
}

StatusOr<KerasModelFile> Read(const std::string& name) {
  return storage::keras::ReadKerasFile(Testdata(name));
}

TEST(KerasImportTest, KerasWrittenFilesReproduceTheirOutputs) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/keras absent";
  struct Case {
    std::string file, config_from, input, output;
  };
  // config_from: "" = the file's own config, else a JSON file beside it.
  const std::vector<Case> cases = {
      {"k3_seq_mlp.keras", "", "k3_seq_mlp.input.txt", "k3_seq_mlp.output.txt"},
      {"k3_seq_mlp.legacy.h5", "", "k3_seq_mlp.input.txt", "k3_seq_mlp.output.txt"},
      {"k3_seq_mlp.weights.h5", "k3_seq_mlp.to_json.json", "k3_seq_mlp.input.txt",
       "k3_seq_mlp.output.txt"},
      {"k3_func_mlp.keras", "", "k3_func_mlp.input.txt", "k3_func_mlp.output.txt"},
      {"k3_func_mlp.legacy.h5", "", "k3_func_mlp.input.txt", "k3_func_mlp.output.txt"},
      {"k3_func_mlp.weights.h5", "k3_func_mlp.to_json.json", "k3_func_mlp.input.txt",
       "k3_func_mlp.output.txt"},
      {"profile_min.keras", "", "profile.input.txt", "profile.output.txt"},
      {"hls4ml_KERAS_mnist_mlp_weights.h5", "hls4ml_KERAS_mnist_mlp.json",
       "hls4ml_KERAS_mnist_mlp.inputs.dat", "hls4ml_KERAS_mnist_mlp.outputs.dat"},
      {"hls4ml_svhn_grayscale_mlp.h5", "", "hls4ml_svhn_grayscale_mlp.input_features.dat",
       "hls4ml_svhn_grayscale_mlp.predictions.dat"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    auto file = Read(c.file);
    ASSERT_TRUE(file.ok()) << file.status();
    const std::string config =
        c.config_from.empty() ? file->model_config_json : ReadText(Testdata(c.config_from));
    ExpectClose(Predict(config, *file, ReadNumbers(Testdata(c.input))),
                ReadNumbers(Testdata(c.output)), 2e-6, c.file);
  }
}

TEST(KerasImportTest, OtherRealFilesLoadOrNameWhatIsUnsupported) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/keras absent";
  // HDF5 despite the .keras name; Dense + Activation layers.
  auto streaming = Read("hls4ml_mlp_streaming_tfk2.11_hdf5.keras");
  ASSERT_TRUE(streaming.ok()) << streaming.status();
  auto config = ModelConfigFromKerasJson(streaming->model_config_json, "streaming");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->layers_size(), 4);
  EXPECT_TRUE(config->layers(1).has_activation());
  auto model = Model::Create(*config, 4, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok());
  auto report = LoadWeightsByName(*streaming, model->get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->loaded, (std::vector<std::string>{"fc1", "fc2"}));
  // Keras 2.0 functional weights + JSON.
  auto three = Read("hls4ml_KERAS_3layer_weights.h5");
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->layers.size(), 5u);
  // The profile's legacy file carries tf.keras's L2(0.01) kernel regularizer (float32-widened).
  auto legacy = Read("profile_legacy.h5");
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  auto regularized = ModelConfigFromKerasJson(legacy->model_config_json, "profile_legacy.h5");
  ASSERT_TRUE(regularized.ok()) << regularized.status();
  bool found = false;
  for (const config::LayerConfig& layer : regularized->layers()) {
    if (!layer.dense().has_kernel_regularizer()) continue;
    EXPECT_EQ(layer.dense().kernel_regularizer().l2(), 0.01f) << layer.name();
    found = true;
  }
  EXPECT_TRUE(found);
  // Its weights reproduce the outputs (the regularizer changes training, not inference).
  auto min = Read("profile_min.keras");
  ASSERT_TRUE(min.ok());
  ExpectClose(Predict(min->model_config_json, *legacy, ReadNumbers(Testdata("profile.input.txt"))),
              ReadNumbers(Testdata("profile.output.txt")), 2e-6, "profile_legacy.h5 weights");
  EXPECT_TRUE(legacy->optimizer.present);
  EXPECT_EQ(legacy->optimizer.iterations, 5);
  EXPECT_EQ(legacy->optimizer.m[0][0], 0.25f);
  EXPECT_EQ(min->optimizer.iterations, 5);
  EXPECT_EQ(min->optimizer.v[3][0], 0.5f);
  // Unsupported architectures: the error names the class (the ResNet imports:
  // resnet_import_test.cc).
  const std::vector<std::pair<std::string, std::string>> unsupported = {
      {"hls4ml_FashionMNIST_qkeras_tfk2.9.h5", "unsupported layer class"},
      {"mlcommons_tiny_str_ww_ref_model_tfk2.14.h5", "unsupported layer class 'DepthwiseConv2D'"},
      {"keras_pre_pr22362_nested_container.keras", "NestedDenseModel"},
  };
  for (const auto& [name, message] : unsupported) {
    SCOPED_TRACE(name);
    auto file = Read(name);
    ASSERT_TRUE(file.ok()) << file.status();  // the weights themselves read fine
    auto arch = ModelConfigFromKerasJson(file->model_config_json, name);
    ASSERT_FALSE(arch.ok());
    EXPECT_EQ(arch.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(arch.status().message().find(message), std::string::npos) << arch.status();
  }
}

TEST(KerasImportTest, ShapeMismatchNamesLayerAndBothShapes) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/keras absent";
  auto file = Read("k3_seq_mlp.keras");
  ASSERT_TRUE(file.ok());
  config::ModelConfig wider;
  wider.add_input_shape(20);
  auto* dense = wider.add_layers();
  dense->set_name("dense");
  dense->mutable_dense()->set_units(64);
  auto model = Model::Create(wider, 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok());
  auto report = LoadWeightsByName(*file, model->get());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      report.status().message(),
      "layer 'dense', weight 'kernel': the model has shape (20, 64) but the file has (20, 32)");
}

TEST(KerasImportTest, OurWritersRoundTrip) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/keras absent";
  auto original = Read("k3_seq_mlp.keras");
  ASSERT_TRUE(original.ok());
  const std::string dir = ::testing::TempDir();
  for (const char* format : {"keras", "h5", "weights_h5"}) {
    SCOPED_TRACE(format);
    const std::string path = dir + "/roundtrip." + format;
    Status written =
        std::string(format) == "keras" ? storage::keras::WriteKerasArchive(path, *original)
        : std::string(format) == "h5"  ? storage::keras::WriteLegacyH5(path, *original)
                                       : storage::keras::WriteWeightsH5(path, *original);
    ASSERT_TRUE(written.ok()) << written;
    auto back = storage::keras::ReadKerasFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    // Same weights, bit for bit, by layer name.
    for (const auto& layer : original->layers) {
      if (layer.weights.empty()) continue;
      auto found = std::find_if(back->layers.begin(), back->layers.end(),
                                [&](const auto& l) { return l.name == layer.name; });
      ASSERT_NE(found, back->layers.end()) << layer.name;
      ASSERT_EQ(found->weights.size(), layer.weights.size());
      for (size_t w = 0; w < layer.weights.size(); ++w) {
        EXPECT_EQ(found->weights[w].shape, layer.weights[w].shape);
        EXPECT_EQ(found->weights[w].values, layer.weights[w].values) << layer.name;
      }
    }
    EXPECT_TRUE(back->optimizer.present);
    EXPECT_EQ(back->optimizer.iterations, original->optimizer.iterations);
    EXPECT_EQ(back->optimizer.m, original->optimizer.m);
    EXPECT_EQ(back->optimizer.v, original->optimizer.v);
    if (std::string(format) == "keras") {
      EXPECT_EQ(back->model_config_json, original->model_config_json);
      EXPECT_EQ(back->optimizer.learning_rate, original->optimizer.learning_rate);
    }
    std::remove(path.c_str());
  }
}

// A frozen layer (trainable: false) keeps its flag in .keras and .h5 files
// and, as in tf.keras, has no Adam state there.
TEST(KerasImportTest, FrozenLayersKeepTheirFlagAndHaveNoOptimizerState) {
  auto config = ModelConfigFromKerasJson(
      R"({"class_name": "Sequential", "config": {"layers": [
          {"class_name": "Dense", "config": {"name": "base", "units": 5, "trainable": false,
                                              "batch_input_shape": [null, 4]}},
          {"class_name": "Dense", "config": {"name": "head", "units": 3}}]}})",
      "frozen.json");
  ASSERT_TRUE(config.ok()) << config.status();
  config::JobConfig job;
  *job.mutable_model() = *config;
  job.mutable_optimizer()->mutable_adam();
  auto model = Model::Create(job.model(), 4, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  auto backend = kernels::CreateCpuBackend();
  (*model)->Initialize(*backend, 3);
  auto opt = optimizer::Optimizer::Create(job.optimizer(), (*model)->parameters().TrainableSpans());
  ASSERT_TRUE(opt.ok());
  ASSERT_EQ((*opt)->slot(0).size(), 5u * 3 + 3);  // the head's kernel and bias only
  for (size_t s = 0; s < 2; ++s) {
    for (size_t i = 0; i < (*opt)->slot(s).size(); ++i) {
      (*opt)->slot(s)[i] = static_cast<float>(s * 100 + i);
    }
  }
  (*opt)->set_iterations(7);
  auto made = ToKerasModelFile(**model, opt->get());
  ASSERT_TRUE(made.ok()) << made.status();
  KerasModelFile file = std::move(*made);
  ASSERT_EQ(file.layers.size(), 2u);
  EXPECT_FALSE(file.layers[0].trainable);
  EXPECT_TRUE(file.layers[1].trainable);
  ASSERT_EQ(file.optimizer.m.size(), 2u);
  EXPECT_EQ(file.optimizer.m[0].size(), 15u);
  EXPECT_EQ(file.optimizer.v[1][0], 115.0f);  // v of head/bias: the slot floats after the kernel

  const std::string dir = ::testing::TempDir();
  for (const char* format : {"keras", "h5"}) {
    SCOPED_TRACE(format);
    const bool keras3 = std::string(format) == "keras";
    file.model_config_json = KerasModelJson(
        job, **model, keras3 ? KerasJsonFlavor::kKeras3 : KerasJsonFlavor::kKeras2, keras3);
    const std::string path = dir + "/frozen." + format;
    Status written = keras3 ? storage::keras::WriteKerasArchive(path, file)
                            : storage::keras::WriteLegacyH5(path, file);
    ASSERT_TRUE(written.ok()) << written;
    auto back = storage::keras::ReadKerasFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->layers.size(), 2u);
    EXPECT_FALSE(back->layers[0].trainable);
    EXPECT_TRUE(back->layers[1].trainable);
    EXPECT_EQ(back->layers[0].weights[0].values, file.layers[0].weights[0].values);
    EXPECT_TRUE(back->optimizer.present);
    EXPECT_EQ(back->optimizer.iterations, 7);
    EXPECT_EQ(back->optimizer.m, file.optimizer.m);
    EXPECT_EQ(back->optimizer.v, file.optimizer.v);
    auto architecture = ModelConfigFromKerasJson(back->model_config_json, path);
    ASSERT_TRUE(architecture.ok()) << architecture.status();
    EXPECT_FALSE(architecture->layers(0).trainable());
    std::remove(path.c_str());
  }
}

TEST(KerasImportTest, DamagedFilesAreErrorsNamingTheFile) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/keras absent";
  const std::string dir = ::testing::TempDir();
  for (const char* name : {"k3_seq_mlp.keras", "k3_seq_mlp.legacy.h5", "k3_seq_mlp.weights.h5"}) {
    const std::string bytes = ReadText(Testdata(name));
    // Truncations at several points, and byte flips all over the file.
    for (size_t cut : {size_t{10}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 7}) {
      const std::string path = dir + "/cut_" + std::to_string(cut) + "_" + name;
      std::ofstream(path, std::ios::binary) << bytes.substr(0, cut);
      auto read = storage::keras::ReadKerasFile(path);
      EXPECT_EQ(read.status().code(), StatusCode::kDataLoss) << name << " cut at " << cut;
      if (!read.ok()) {
        EXPECT_NE(read.status().message().find(path), std::string::npos) << read.status();
      }
      std::remove(path.c_str());
    }
    for (size_t at = 0; at < bytes.size(); at += bytes.size() / 97 + 1) {
      std::string flipped = bytes;
      flipped[at] = static_cast<char>(flipped[at] ^ 0x5a);
      const std::string path = dir + "/flip_" + std::string(name);
      std::ofstream(path, std::ios::binary) << flipped;
      auto read = storage::keras::ReadKerasFile(path);  // must not crash; may read or fail
      read.status().IgnoreError();
      std::remove(path.c_str());
    }
  }
}

}  // namespace
}  // namespace shardtrain::model
