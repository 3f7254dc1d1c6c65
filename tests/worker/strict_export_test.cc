// Exports from a device-resident model (issue 21): the same model built on
// the strict emulated device (kernels/strict: the host cannot touch its
// memory, a host read would be a SIGSEGV) and on the CPU backend, from one
// seed, with the same weights set through SetWeights and the same Adam slots,
// exports the same bytes: the Keras .weights.h5 and legacy .h5 files (with
// optimizer state; HDF5 records no object times in them) and the SavedModel
// of cli::ExportModelOf (saved_model.pb, serialized deterministically, and
// variables/); the .keras archives (which carry a save date) read back
// equal. Writing weights on the device (SetWeights, LoadWeightsByName) and
// reading them back (GetWeights) agree with the CPU, and the strict device
// records no error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/saved_model_of.h"
#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "storage/keras/keras_files.h"
#include "storage/saved_model/saved_model_writer.h"
#include "tests/storage/temp_files_test_util.h"
#include "worker/job_config.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain {
namespace {

using model::Model;
using storage::keras::KerasModelFile;

// Conv2D -> BatchNormalization -> MaxPool -> Flatten -> Dense(8, relu) ->
// Dropout -> Dense(3), with Adam.
constexpr char kJob[] = R"(
model {
  input_shape: [6, 6, 2]
  input_name: "pixels"
  layers { name: "conv2d" conv2d { filters: 4 kernel_size: [3] padding: SAME activation: RELU } }
  layers { name: "batch_normalization" batch_normalization {} }
  layers { name: "max_pooling2d" max_pooling2d { pool_size: [2] } }
  layers { name: "flatten" flatten {} }
  layers { name: "dense" dense { units: 8 activation: RELU } }
  layers { name: "dropout" dropout { rate: 0.25 } }
  layers { name: "dense_1" dense { units: 3 } }
}
optimizer { adam {} }
)";

config::JobConfig Job() {
  auto job = ParseJobConfig(kJob, "strict_export_test");
  EXPECT_TRUE(job.ok()) << job.status();
  return job.ok() ? *job : config::JobConfig{};
}

// A model, its Adam optimizer and the backend both live on (declared first:
// destroyed last).
struct Built {
  std::unique_ptr<kernels::KernelBackend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<optimizer::Optimizer> optimizer;
};

// Every variable's initial values shifted by a deterministic pattern
// (variances kept positive), so nothing is left at its initializer's 0 or 1.
std::vector<std::vector<float>> Perturbed(const Model& model) {
  auto weights = model::GetWeights(model);
  EXPECT_TRUE(weights.ok()) << weights.status();
  if (!weights.ok()) return {};
  const model::ParameterStore& params = model.parameters();
  for (size_t v = 0; v < weights->size(); ++v) {
    const bool variance =
        params.variable(static_cast<int>(v)).name.find("moving_variance") != std::string::npos;
    std::vector<float>& values = (*weights)[v];
    for (size_t i = 0; i < values.size(); ++i) {
      values[i] += 0.03f * std::sin(static_cast<float>(7 * v + i));
      if (variance) values[i] = 0.5f + std::fabs(values[i]);
    }
  }
  return std::move(*weights);
}

Built Build(bool strict) {
  Built b;
  b.backend = strict ? kernels::CreateStrictDeviceBackend() : kernels::CreateCpuBackend();
  EXPECT_EQ(b.backend->host_reads_device_memory(), !strict);
  const config::JobConfig job = Job();
  auto model = Model::Create(job.model(), 2, *b.backend);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return b;
  b.model = std::move(*model);
  b.model->Initialize(*b.backend, 17);
  EXPECT_TRUE(model::SetWeights(Perturbed(*b.model), b.model.get()).ok());
  auto opt = optimizer::Optimizer::Create(*b.backend, job.optimizer(), b.model->parameters());
  EXPECT_TRUE(opt.ok()) << opt.status();
  if (!opt.ok()) return b;
  b.optimizer = std::move(*opt);
  const int64_t n = b.optimizer->slot_size();
  for (size_t s = 0; s < 2; ++s) {
    std::vector<float> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = 0.01f * (s + 1) * i;
    EXPECT_TRUE(b.optimizer->CopySlotFromHost(s, 0, n, values.data()).ok());
  }
  b.optimizer->set_iterations(7);
  EXPECT_TRUE(b.backend->CheckErrors().ok());
  return b;
}

KerasModelFile FileOf(const Built& b) {
  auto file = model::ToKerasModelFile(*b.model, b.optimizer.get());
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? std::move(*file) : KerasModelFile{};
}

// Writes `b`'s Keras files under `dir` with `tag` in their names.
void WriteKerasFiles(const Built& b, const test_files::TempDir& dir, const std::string& tag) {
  const config::JobConfig job = Job();
  KerasModelFile file = FileOf(b);
  ASSERT_TRUE(file.optimizer.present);
  ASSERT_TRUE(storage::keras::WriteWeightsH5(dir.File(tag + ".weights.h5"), file).ok());
  file.model_config_json =
      model::KerasModelJson(job, *b.model, model::KerasJsonFlavor::kKeras3, true);
  ASSERT_TRUE(storage::keras::WriteKerasArchive(dir.File(tag + ".keras"), file).ok());
  file.model_config_json =
      model::KerasModelJson(job, *b.model, model::KerasJsonFlavor::kKeras2, false);
  file.training_config_json = model::KerasTrainingConfigJson(job);
  ASSERT_TRUE(storage::keras::WriteLegacyH5(dir.File(tag + ".h5"), file).ok());
}

TEST(StrictExportTest, KerasFilesAreByteIdenticalToTheCpus) {
  const Built cpu = Build(false), strict = Build(true);
  ASSERT_NE(cpu.optimizer, nullptr);
  ASSERT_NE(strict.optimizer, nullptr);
  test_files::TempDir dir;
  // No object times in our HDF5 files: one CPU file, whenever it was written.
  WriteKerasFiles(cpu, dir, "cpu");
  WriteKerasFiles(strict, dir, "strict");
  for (const std::string suffix : {".weights.h5", ".h5"}) {
    const std::string a = test_files::ReadBytes(dir.File("cpu" + suffix));
    const std::string b = test_files::ReadBytes(dir.File("strict" + suffix));
    ASSERT_FALSE(a.empty()) << suffix;
    EXPECT_TRUE(a == b) << suffix << " differs (" << a.size() << " vs " << b.size() << " bytes)";
  }
  auto a = storage::keras::ReadKerasFile(dir.File("cpu.keras"));
  auto b = storage::keras::ReadKerasFile(dir.File("strict.keras"));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->layers.size(), b->layers.size());
  for (size_t l = 0; l < a->layers.size(); ++l) {
    ASSERT_EQ(a->layers[l].weights.size(), b->layers[l].weights.size());
    for (size_t w = 0; w < a->layers[l].weights.size(); ++w) {
      EXPECT_EQ(a->layers[l].weights[w].values, b->layers[l].weights[w].values);
    }
  }
  EXPECT_EQ(a->optimizer.m, b->optimizer.m);
  EXPECT_EQ(a->optimizer.v, b->optimizer.v);
  EXPECT_FALSE(a->optimizer.m.empty());
  EXPECT_TRUE(strict.backend->CheckErrors().ok());
}

// Every file under `root`, by path relative to it, with its bytes.
std::map<std::string, std::string> FilesUnder(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    out[std::filesystem::relative(entry.path(), root).string()] =
        test_files::ReadBytes(entry.path().string());
  }
  return out;
}

TEST(StrictExportTest, SavedModelIsByteIdenticalToTheCpus) {
  const Built cpu = Build(false), strict = Build(true);
  ASSERT_NE(strict.model, nullptr);
  test_files::TempDir dir;
  std::vector<std::map<std::string, std::string>> files;
  for (const Built* b : {&cpu, &strict}) {
    auto exported = cli::ExportModelOf(*b->model, "pixels");
    ASSERT_TRUE(exported.ok()) << exported.status();
    const std::string base = dir.File(b == &cpu ? "cpu" : "strict");
    auto written = storage::saved_model::ExportSavedModel(*exported, base, 1);
    ASSERT_TRUE(written.ok()) << written.status();
    files.push_back(FilesUnder(*written));
  }
  ASSERT_TRUE(files[0].count("saved_model.pb"));
  EXPECT_TRUE(files[0].count("variables/variables.index"));
  ASSERT_EQ(files[0].size(), files[1].size());
  // saved_model.pb too: its maps (signatures, attrs) are written sorted.
  for (const auto& [path, bytes] : files[0]) {
    ASSERT_TRUE(files[1].count(path)) << path;
    EXPECT_TRUE(files[1][path] == bytes) << path << " differs";
  }
  EXPECT_TRUE(strict.backend->CheckErrors().ok());
}

// A file made on the CPU loads into a fresh strict-device model (written on
// the device), which then reads back the CPU's weights; SetWeights refuses a
// wrong count there too, changing nothing.
TEST(StrictExportTest, WeightsLoadIntoADeviceModel) {
  const Built cpu = Build(false);
  ASSERT_NE(cpu.model, nullptr);
  auto strict = kernels::CreateStrictDeviceBackend();
  auto fresh = Model::Create(Job().model(), 2, *strict);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  (*fresh)->Initialize(*strict, 99);
  auto before = model::GetWeights(**fresh);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(model::SetWeights({{1.0f}}, fresh->get()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*model::GetWeights(**fresh), *before);
  auto report = model::LoadWeightsByName(FileOf(cpu), fresh->get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->loaded.size(), 4u) << report->Describe();
  auto loaded = model::GetWeights(**fresh);
  auto expected = model::GetWeights(*cpu.model);
  ASSERT_TRUE(loaded.ok() && expected.ok());
  EXPECT_EQ(*loaded, *expected);
  EXPECT_NE(*loaded, *before);
  EXPECT_TRUE(strict->CheckErrors().ok());
}

}  // namespace
}  // namespace shardtrain
