// Training on one's own TFRecords (data::MatchFiles, data::LoadJobSplit):
// glob matching in sorted order, NotFound for a pattern without match, a
// custom feature spec (two float_list features and a VECTOR label; an int64
// class id), errors prefixed "FILE, record N: ", the empty-shard error and
// the uneven-shard warning (prepared shard sets only), and a job without validation data (config
// checks, Fit without val_* logs).
#include "worker/data/job_data.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/data/file_list.h"
#include "worker/job_config.h"
#include "worker/metrics/metric_set.h"
#include "worker/trainer.h"

namespace shardtrain::data {
namespace {

using testing::TempDir;

tf::Example FloatExample(const std::vector<float>& a, const std::vector<float>& b,
                         const std::vector<float>& y, int64_t class_id) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  for (float v : a) features["a"].mutable_float_list()->add_value(v);
  for (float v : b) features["b"].mutable_float_list()->add_value(v);
  for (float v : y) features["y"].mutable_float_list()->add_value(v);
  features["cls"].mutable_int64_list()->add_value(class_id);
  return example;
}

// Writes `examples` as the TFRecord file `path`.
void WriteFile(const std::string& path, const std::vector<tf::Example>& examples,
               storage::TfRecordCompression compression = storage::TfRecordCompression::kNone) {
  auto writer = storage::TfRecordWriter::Open(path, compression);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const auto& example : examples) {
    ASSERT_TRUE((*writer)->Write(example.SerializeAsString()).ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
}

// Example i: a = [i, -i], b = [i, i + 1, i + 2], y = [i / 10, 1 - i / 10], class i % 3.
tf::Example NumberedExample(int i) {
  const float x = static_cast<float>(i);
  return FloatExample({x, -x}, {x, x + 1, x + 2}, {x / 10, 1 - x / 10}, i % 3);
}

// A job reading `train_files` with features a (2 values) and b (3 values,
// scale 2, offset 1) and the label `label` (text format).
config::JobConfig CustomJob(const std::string& train_files, const std::string& label) {
  auto config = ParseJobConfig(R"pb(
                                 model {
                                   input_shape: [ 5 ]
                                   layers { dense { units: 3 } }
                                 }
                                 training { batch_size: 2 epochs: 1 seed: 1 }
                                 optimizer { sgd {} }
                                 loss { sparse_categorical_crossentropy { from_logits: true } }
                                 data {
                                   num_classes: 3
                                   features {
                                     key: "a"
                                     type: FLOAT_LIST
                                     shape: [ 2 ]
                                   }
                                   features {
                                     key: "b"
                                     type: FLOAT_LIST
                                     shape: [ 3 ]
                                     scale: 2
                                     offset: 1
                                   }
                                 }
                               )pb",
                               "custom job");
  EXPECT_TRUE(config.ok()) << config.status();
  config->mutable_data()->add_train_files(train_files);
  const bool parsed =
      google::protobuf::TextFormat::ParseFromString(label, config->mutable_data()->mutable_label());
  EXPECT_TRUE(parsed) << label;
  return *config;
}

TEST(MatchFilesTest, SortsEachPatternsMatchesAndKeepsTheFirstOfDuplicates) {
  TempDir dir;
  for (const char* name : {"part-2.tfrecord", "part-10.tfrecord", "part-1.tfrecord", "notes.txt"}) {
    std::ofstream(dir.File(name)) << "x";
  }
  std::filesystem::create_directory(dir.File("part-dir.tfrecord"));  // directories are left out
  auto files = MatchFiles({dir.File("part-*.tfrecord"), dir.File("*.txt"), dir.File("part-1*")},
                          "data.train_files");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(*files,
            (std::vector<std::string>{dir.File("part-1.tfrecord"), dir.File("part-10.tfrecord"),
                                      dir.File("part-2.tfrecord"), dir.File("notes.txt")}));
}

TEST(MatchFilesTest, APatternWithoutMatchIsNotFoundNamingIt) {
  TempDir dir;
  std::ofstream(dir.File("a.tfrecord")) << "x";
  const Status status =
      MatchFiles({dir.File("*.tfrecord"), dir.File("*.gz")}, "data.validation_files").status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status;
  EXPECT_NE(
      status.message().find("data.validation_files[1] '" + dir.File("*.gz") + "' matches no file"),
      std::string::npos)
      << status;
  EXPECT_EQ(MatchFiles({""}, "data.train_files").status().code(), StatusCode::kInvalidArgument);
}

TEST(JobDataTest, DecodesACustomSpecWithVectorLabels) {
  TempDir dir;
  WriteFile(dir.File("b.tfrecord"), {NumberedExample(2)});
  WriteFile(dir.File("a.tfrecord"), {NumberedExample(0), NumberedExample(1)});
  const config::JobConfig job =
      CustomJob(dir.File("*.tfrecord"), R"pb(key: "y" kind: VECTOR size: 2)pb");
  auto data = LoadJobSplit(job, DataSplit::kTrain);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 3);
  EXPECT_EQ(data->feature_size, 5);
  EXPECT_EQ(data->shard_sizes, (std::vector<int64_t>{2, 1}));  // a.tfrecord first
  // Example 1: a = [1, -1], b * 2 + 1 = [3, 5, 7].
  EXPECT_EQ(std::vector<float>(data->features.begin() + 5, data->features.begin() + 10),
            (std::vector<float>{1, -1, 3, 5, 7}));
  EXPECT_EQ(data->label_width, 2);
  EXPECT_TRUE(data->labels.empty());
  EXPECT_EQ(data->label_values, (std::vector<float>{0, 1, 0.1f, 0.9f, 0.2f, 0.8f}));
  EXPECT_TRUE(data->warnings.empty());
  // Without labels (prediction) no target is decoded.
  auto unlabeled = LoadJobSplit(job, DataSplit::kTrain, /*labels=*/false);
  ASSERT_TRUE(unlabeled.ok()) << unlabeled.status();
  EXPECT_TRUE(unlabeled->labels.empty() && unlabeled->label_values.empty());
}

TEST(JobDataTest, DecodesInt64ClassIds) {
  TempDir dir;
  WriteFile(dir.File("train.tfrecord"), {NumberedExample(4), NumberedExample(5)});
  config::JobConfig job = CustomJob(dir.File("train.tfrecord"), R"pb(key: "cls")pb");
  job.mutable_data()->set_train_examples(1);
  auto data = LoadJobSplit(job, DataSplit::kTrain);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 1);
  EXPECT_EQ(data->label_width, 0);
  EXPECT_EQ(data->labels, (std::vector<int32_t>{1}));
}

TEST(JobDataTest, ReadsGzipFilesAsDataCompressionSays) {
  TempDir dir;
  WriteFile(dir.File("z.tfrecord.gz"), {NumberedExample(7)}, storage::TfRecordCompression::kGzip);
  config::JobConfig job = CustomJob(dir.File("*.gz"), R"pb(key: "cls")pb");
  job.mutable_data()->set_compression(config::GZIP);
  auto data = LoadJobSplit(job, DataSplit::kTrain);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->labels, (std::vector<int32_t>{1}));
  job.mutable_data()->set_compression(config::NONE);
  EXPECT_EQ(LoadJobSplit(job, DataSplit::kTrain).status().code(), StatusCode::kDataLoss);
}

TEST(JobDataTest, RecordErrorsNameFileAndRecord) {
  TempDir dir;
  tf::Example short_b = FloatExample({1, 2}, {1, 2}, {0, 1}, 0);
  WriteFile(dir.File("x.tfrecord"), {NumberedExample(0), short_b});
  const Status status =
      LoadJobSplit(CustomJob(dir.File("x.tfrecord"), R"pb(key: "cls")pb"), DataSplit::kTrain)
          .status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message().rfind(dir.File("x.tfrecord") + ", record 1: ", 0), 0u) << status;
  EXPECT_NE(status.message().find("'b'"), std::string::npos) << status;
}

// Uneven shards are warned about only in a prepared NNNNN-of-NNNNN set,
// whose shards differ by at most one record; a user's own files may differ.
TEST(JobDataTest, AnEmptyShardIsAnErrorAndAnUnevenPreparedOneAWarning) {
  TempDir dir;
  const std::vector<std::string> names = {"train-00000-of-00003.tfrecord",
                                          "train-00001-of-00003.tfrecord",
                                          "train-00002-of-00003.tfrecord"};
  WriteFile(dir.File(names[0]), {NumberedExample(0), NumberedExample(1), NumberedExample(2)});
  WriteFile(dir.File(names[1]), {NumberedExample(3)});
  WriteFile(dir.File(names[2]), {NumberedExample(4), NumberedExample(5)});
  const config::JobConfig own_files = CustomJob(dir.File("train-*.tfrecord"), R"pb(key: "cls")pb");
  auto data = LoadJobSplit(own_files, DataSplit::kTrain);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_TRUE(data->warnings.empty()) << data->warnings[0];

  config::JobConfig prepared = own_files;
  prepared.mutable_data()->clear_train_files();
  prepared.mutable_data()->set_dir(dir.path());
  data = LoadJobSplit(prepared, DataSplit::kTrain);
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_EQ(data->warnings.size(), 1u);  // the third is one short of the first: as prepare splits
  EXPECT_EQ(data->warnings[0].rfind(dir.File(names[1]) + " holds 1 records", 0), 0u)
      << data->warnings[0];

  WriteFile(dir.File(names[1]), {});
  const Status empty = LoadJobSplit(own_files, DataSplit::kTrain).status();
  EXPECT_EQ(empty.code(), StatusCode::kDataLoss) << empty;
  EXPECT_NE(empty.message().find(dir.File(names[1]) + " holds no record"), std::string::npos)
      << empty;
  EXPECT_NE(empty.message().find("re-create it from its source"), std::string::npos) << empty;
  const Status empty_prepared = LoadJobSplit(prepared, DataSplit::kTrain).status();
  EXPECT_EQ(empty_prepared.code(), StatusCode::kDataLoss) << empty_prepared;
  EXPECT_NE(empty_prepared.message().find("re-create it with `shardtrain data prepare`"),
            std::string::npos)
      << empty_prepared;
}

TEST(JobDataTest, ValidationFilesAreOptional) {
  config::JobConfig job = CustomJob("train-*.tfrecord", R"pb(key: "cls")pb");
  EXPECT_FALSE(HasValidationFiles(job.data()));
  EXPECT_FALSE(HasValidationData(job));
  EXPECT_EQ(SplitFiles(job.data(), DataSplit::kValidation).status().code(), StatusCode::kNotFound);
  job.mutable_training()->set_validation_split(0.2);
  EXPECT_TRUE(HasValidationData(job));
  job.mutable_training()->set_validation_split(0);
  job.mutable_data()->add_validation_files("val-*.tfrecord");
  EXPECT_TRUE(HasValidationData(job));
  config::JobConfig prepared;
  prepared.mutable_data()->set_dir("data");  // the dir layout validates on its test split
  EXPECT_TRUE(HasValidationFiles(prepared.data()));
}

TEST(JobDataTest, AJobWithoutValidationDataRefusesValMonitors) {
  config::JobConfig job = CustomJob("train-*.tfrecord", R"pb(key: "cls")pb");
  config::JobConfig plain = job;
  ASSERT_TRUE(ValidateJobConfig(&plain).ok());
  EXPECT_EQ(plain.checkpoint().monitor(), "loss");  // val_loss needs validation data
  EXPECT_EQ(metrics::LogNames(plain), (std::vector<std::string>{"loss", "accuracy"}));
  config::JobConfig early = job;
  early.mutable_callbacks()->mutable_early_stopping()->set_monitor("val_accuracy");
  Status status = ValidateJobConfig(&early);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("callbacks.early_stopping.monitor 'val_accuracy' needs "
                                  "validation data"),
            std::string::npos)
      << status;
  config::JobConfig best = job;
  best.mutable_checkpoint()->set_monitor("val_loss");
  status = ValidateJobConfig(&best);
  EXPECT_NE(status.message().find("checkpoint.monitor 'val_loss' needs validation data"),
            std::string::npos)
      << status;
  job.mutable_data()->add_validation_files("val-*.tfrecord");
  ASSERT_TRUE(ValidateJobConfig(&job).ok());
  EXPECT_EQ(job.checkpoint().monitor(), "val_loss");
}

class EpochRecorder : public callbacks::Callback {
 public:
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    epochs.push_back(e);
    return OkStatus();
  }
  std::vector<callbacks::EpochEnd> epochs;
};

TEST(JobDataTest, FitWithoutValidationLogsNoValEntries) {
  const config::JobConfig job = shardtrain::testing::SmallJob("layers { dense { units: 3 } }", 2);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  const Dataset train = shardtrain::testing::SeparableDataset(40, 1);
  shardtrain::testing::OneRankPlanner planner(&train, 8, /*shuffle=*/true);
  EpochRecorder record;
  ASSERT_TRUE((*trainer)->Fit(&planner, nullptr, {&record}).ok());
  ASSERT_EQ(record.epochs.size(), 2u);
  for (const auto& epoch : record.epochs) {
    for (const auto& [name, value] : epoch.logs) EXPECT_NE(name.rfind("val_", 0), 0u) << name;
    EXPECT_TRUE(epoch.Log("loss").has_value());
  }
}

}  // namespace
}  // namespace shardtrain::data
