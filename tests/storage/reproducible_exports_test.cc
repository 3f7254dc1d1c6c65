// Reproducible exports: the same weights give the same bytes. A Keras
// .weights.h5 and legacy .h5 written twice more than a second apart are
// byte-identical (storage/keras/hdf5_file.cc creates the file, its root group,
// every group and dataset without HDF5's object times, which would otherwise
// carry the write second), and no object of them records a time; a
// SavedModel exported several times has the same saved_model.pb bytes
// (storage/saved_model/saved_model_writer.cc serializes map fields sorted by
// key, not in protobuf's per-instance hash order) and the same variables/.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/keras/keras_files.h"
#include "storage/saved_model/saved_model_writer.h"
#include "tests/storage/temp_files_test_util.h"

namespace shardtrain::storage {
namespace {

using keras::KerasModelFile;

keras::KerasWeight Weight(const std::string& name, std::vector<int64_t> shape, float scale) {
  keras::KerasWeight weight;
  weight.name = name;
  weight.shape = shape;
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  for (int64_t i = 0; i < count; ++i) weight.values.push_back(scale * static_cast<float>(i + 1));
  return weight;
}

// Dense(2) -> Dense(1) with Adam state.
KerasModelFile SmallModel() {
  KerasModelFile file;
  file.keras_version = "3.7.0";
  file.layers.push_back(
      {"dense", "Dense", {Weight("kernel", {3, 2}, 0.1f), Weight("bias", {2}, 0.5f)}});
  file.layers.push_back(
      {"dense_1", "Dense", {Weight("kernel", {2, 1}, -0.2f), Weight("bias", {1}, 0.25f)}});
  file.optimizer.present = true;
  file.optimizer.iterations = 7;
  file.optimizer.learning_rate = 0.001f;
  for (const keras::KerasLayerWeights& layer : file.layers) {
    for (const keras::KerasWeight& weight : layer.weights) {
      file.optimizer.m.push_back(std::vector<float>(weight.values.size(), 0.01f));
      file.optimizer.v.push_back(std::vector<float>(weight.values.size(), 0.02f));
    }
  }
  file.model_config_json = R"({"class_name": "Sequential", "config": {"name": "sequential"}})";
  file.training_config_json = R"({"loss": "mse"})";
  return file;
}

// Object times of every object in an HDF5 file: all must be 0 (not recorded).
herr_t CollectTimes(hid_t, const char* name, const H5O_info_t* info, void* out) {
  auto* timed = static_cast<std::vector<std::string>*>(out);
  if (info->atime != 0 || info->mtime != 0 || info->ctime != 0 || info->btime != 0) {
    timed->push_back(name);
  }
  return 0;
}

std::vector<std::string> TimedObjects(const std::string& path) {
  std::vector<std::string> timed = {"(cannot open)"};
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return timed;
  timed.clear();
  if (H5Ovisit(file, H5_INDEX_NAME, H5_ITER_INC, CollectTimes, &timed) < 0) {
    timed.push_back("(cannot visit)");
  }
  H5Fclose(file);
  return timed;
}

TEST(ReproducibleExportsTest, KerasH5FilesWrittenSecondsApartAreByteIdentical) {
  const KerasModelFile model = SmallModel();
  test_files::TempDir dir;
  for (const char* name : {"first", "second"}) {
    ASSERT_TRUE(keras::WriteWeightsH5(dir.File(std::string(name) + ".weights.h5"), model).ok());
    ASSERT_TRUE(keras::WriteLegacyH5(dir.File(std::string(name) + ".h5"), model).ok());
    // Past the next second: a recorded object time would differ.
    if (std::string(name) == "first") std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }
  for (const std::string suffix : {".weights.h5", ".h5"}) {
    const std::string first = test_files::ReadBytes(dir.File("first" + suffix));
    const std::string second = test_files::ReadBytes(dir.File("second" + suffix));
    ASSERT_FALSE(first.empty()) << suffix;
    EXPECT_TRUE(first == second) << suffix << " differs between two writes";
    EXPECT_EQ(TimedObjects(dir.File("first" + suffix)), std::vector<std::string>{}) << suffix;
  }
  // Still the same weights when read back.
  auto read = keras::ReadKerasFile(dir.File("second.weights.h5"));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->layers.size(), 2u);
  EXPECT_EQ(read->layers[1].weights[0].values, model.layers[1].weights[0].values);
  EXPECT_EQ(read->optimizer.v, model.optimizer.v);
  auto legacy = keras::ReadKerasFile(dir.File("second.h5"));
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  ASSERT_EQ(legacy->layers.size(), 2u);
  EXPECT_EQ(legacy->layers[0].weights[0].values, model.layers[0].weights[0].values);
}

// Sets SOURCE_DATE_EPOCH for one scope (unset before and after).
class ScopedSourceDateEpoch {
 public:
  explicit ScopedSourceDateEpoch(const char* value) { setenv("SOURCE_DATE_EPOCH", value, 1); }
  ~ScopedSourceDateEpoch() { unsetenv("SOURCE_DATE_EPOCH"); }
};

TEST(ReproducibleExportsTest, KerasArchivesWithSourceDateEpochAreByteIdentical) {
  const KerasModelFile model = SmallModel();
  test_files::TempDir dir;
  {
    ScopedSourceDateEpoch epoch("1700000000");
    ASSERT_TRUE(keras::WriteKerasArchive(dir.File("first.keras"), model).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // past zip's 2 s resolution
    ASSERT_TRUE(keras::WriteKerasArchive(dir.File("second.keras"), model).ok());
  }
  const std::string first = test_files::ReadBytes(dir.File("first.keras"));
  ASSERT_FALSE(first.empty());
  EXPECT_TRUE(first == test_files::ReadBytes(dir.File("second.keras")));
  // 1700000000 s after 1970 is 2023-11-14 22:13:20 UTC.
  EXPECT_NE(first.find(R"("date_saved":"2023-11-14@22:13:20")"), std::string::npos);
  auto read = keras::ReadKerasFile(dir.File("second.keras"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->layers[1].weights[0].values, model.layers[1].weights[0].values);
}

TEST(ReproducibleExportsTest, MalformedSourceDateEpochIsInvalidArgument) {
  test_files::TempDir dir;
  ScopedSourceDateEpoch epoch("yesterday");
  Status status = keras::WriteKerasArchive(dir.File("model.keras"), SmallModel());
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("SOURCE_DATE_EPOCH='yesterday'"), std::string::npos) << status;
  EXPECT_FALSE(std::filesystem::exists(dir.File("model.keras")));
}

// Two Dense layers and a softmax: several NodeDefs with several attrs each, a
// signature with two outputs (maps that protobuf would emit in hash order).
saved_model::ExportModel SmallExport() {
  saved_model::ExportModel model;
  model.input_name = "x";
  model.input_size = 3;
  model.add_probabilities = true;
  int64_t in = 3;
  for (int k = 0; k < 2; ++k) {
    saved_model::ExportLayer dense;
    dense.name = k == 0 ? "dense" : "dense_1";
    dense.in = in;
    dense.out = 2;
    for (int i = 0; i < in * 2; ++i) dense.kernel.push_back(0.1f * (i + 1) * (k + 1));
    dense.bias = {0.5f, -0.25f};
    dense.activation = k == 0 ? "relu" : "linear";
    model.layers.push_back(dense);
    in = 2;
  }
  return model;
}

TEST(ReproducibleExportsTest, SavedModelPbIsTheSameBytesEveryExport) {
  test_files::TempDir dir;
  std::string first_pb, first_index, first_data;
  for (int version = 1; version <= 5; ++version) {
    auto written = saved_model::ExportSavedModel(SmallExport(), dir.File("base"), version);
    ASSERT_TRUE(written.ok()) << written.status();
    const std::string pb = test_files::ReadBytes(*written + "/saved_model.pb");
    const std::string index = test_files::ReadBytes(*written + "/variables/variables.index");
    const std::string data =
        test_files::ReadBytes(*written + "/variables/variables.data-00000-of-00001");
    ASSERT_FALSE(pb.empty());
    if (version == 1) {
      first_pb = pb, first_index = index, first_data = data;
      continue;
    }
    EXPECT_TRUE(pb == first_pb) << "saved_model.pb of version " << version << " differs";
    EXPECT_TRUE(index == first_index) << "variables.index of version " << version << " differs";
    EXPECT_TRUE(data == first_data) << "variables.data of version " << version << " differs";
  }
  // The bytes still parse to the model the writer built.
  tf::SavedModel parsed;
  ASSERT_TRUE(parsed.ParseFromString(first_pb));
  auto built = saved_model::BuildSavedModel(SmallExport());
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, *built));
}

}  // namespace
}  // namespace shardtrain::storage
