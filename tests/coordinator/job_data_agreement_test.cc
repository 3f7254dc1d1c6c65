// What the coordinator plans and the ranks train on must be the same data
// (worker/data/job_data.h): a rank refuses a streaming JobPlan cut with
// another data.train_examples or training.validation_split than its own
// config (FailedPrecondition naming the field, both values and the fix), and
// SplitFiles refuses training and validation globs that share a file
// (InvalidArgument naming it), however the paths name it; data.dir's
// prepared train/test shards and disjoint globs still list.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"
#include "worker/data/job_data.h"
#include "worker/job_config.h"

namespace shardtrain::data {
namespace {

using testing::TempDir;

// Writes `count` examples (x = [i, -i], class i % 3) to `path`.
void WriteExamples(const std::string& path, int count) {
  auto writer = storage::TfRecordWriter::Open(path, storage::TfRecordCompression::kNone);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = 0; i < count; ++i) {
    tf::Example example;
    auto& features = *example.mutable_features()->mutable_feature();
    features["x"].mutable_float_list()->add_value(static_cast<float>(i));
    features["x"].mutable_float_list()->add_value(static_cast<float>(-i));
    features["cls"].mutable_int64_list()->add_value(i % 3);
    ASSERT_TRUE((*writer)->Write(example.SerializeAsString()).ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
}

// A streamed job over `train_glob` and `validation_glob` (each unless empty),
// or data.dir `dir`'s prepared shards.
config::JobConfig Job(const std::string& train_glob, const std::string& validation_glob = "",
                      const std::string& dir = "") {
  auto config = ParseJobConfig(R"pb(
                                 model {
                                   input_shape: [ 2 ]
                                   layers { dense { units: 3 } }
                                 }
                                 training { batch_size: 4 epochs: 1 seed: 7 }
                                 optimizer { sgd {} }
                                 loss { sparse_categorical_crossentropy { from_logits: true } }
                                 data {
                                   num_classes: 3
                                   features {
                                     key: "x"
                                     type: FLOAT_LIST
                                     shape: [ 2 ]
                                   }
                                   label { key: "cls" }
                                 }
                               )pb",
                               "agreement job");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!train_glob.empty()) config->mutable_data()->add_train_files(train_glob);
  if (!validation_glob.empty()) config->mutable_data()->add_validation_files(validation_glob);
  if (!dir.empty()) config->mutable_data()->set_dir(dir);
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
  return *config;
}

// The coordinator indexed `coordinator_job`; rank 1 runs `rank_job`.
Status RankCheck(const config::JobConfig& coordinator_job, const config::JobConfig& rank_job) {
  auto index = IndexTrainingData(coordinator_job);
  if (!index.ok()) return index.status();
  return StreamFilesForPlan(rank_job, index->plan, 1).status();
}

void ExpectRefusal(const Status& status, const std::string& message) {
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find(message), std::string::npos) << status;
  EXPECT_NE(status.message().find("start the coordinator with the same config and flags"),
            std::string::npos)
      << status;
}

TEST(JobDataAgreementTest, APlanCarriesTheCutItsRecordsWereMadeWith) {
  TempDir dir;
  WriteExamples(dir.File("a.tfrecord"), 40);
  config::JobConfig job = Job(dir.File("*.tfrecord"));
  job.mutable_data()->set_train_examples(30);
  job.mutable_training()->set_validation_split(0.1);
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->plan.train_examples(), 30);
  EXPECT_EQ(index->plan.validation_split(), 0.1);
  EXPECT_EQ(index->plan.files(0).records(), 27);
  EXPECT_TRUE(StreamFilesForPlan(job, index->plan, 1).ok());
}

// `coordinator --train-examples` left out: the ranks would train on all 40
// records while their config and checkpoint say 30.
TEST(JobDataAgreementTest, ARankRefusesAPlanOfAnotherTrainExamples) {
  TempDir dir;
  WriteExamples(dir.File("a.tfrecord"), 40);
  const config::JobConfig all = Job(dir.File("*.tfrecord"));
  config::JobConfig first30 = all;
  first30.mutable_data()->set_train_examples(30);
  ExpectRefusal(RankCheck(all, first30),
                "data.train_examples differs: the coordinator plans all (0), rank 1 has 30");
  ExpectRefusal(RankCheck(first30, all),
                "data.train_examples differs: the coordinator plans 30, rank 1 has all (0)");
}

// A coordinator with validation_split cuts the records the ranks train on;
// ranks with another split would validate on trained records, or on none.
TEST(JobDataAgreementTest, ARankRefusesAPlanOfAnotherValidationSplit) {
  TempDir dir;
  WriteExamples(dir.File("a.tfrecord"), 40);
  const config::JobConfig none = Job(dir.File("*.tfrecord"));
  config::JobConfig tenth = none;
  tenth.mutable_training()->set_validation_split(0.1);
  ExpectRefusal(RankCheck(tenth, none),
                "training.validation_split differs: the coordinator plans 0.1, rank 1 has 0");
  config::JobConfig quarter = none;
  quarter.mutable_training()->set_validation_split(0.25);
  ExpectRefusal(RankCheck(tenth, quarter),
                "training.validation_split differs: the coordinator plans 0.1, rank 1 has 0.25");
}

TEST(JobDataAgreementTest, OverlappingTrainingAndValidationGlobsAreRefused) {
  TempDir dir;
  WriteExamples(dir.File("train-0.tfrecord"), 4);
  WriteExamples(dir.File("val-0.tfrecord"), 4);
  const config::JobConfig job = Job(dir.File("*.tfrecord"), dir.File("val-*.tfrecord"));
  for (DataSplit split : {DataSplit::kTrain, DataSplit::kValidation}) {
    const Status status = SplitFiles(job.data(), split).status();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(dir.File("val-0.tfrecord") +
                                    " is both a training and a validation file"),
              std::string::npos)
        << status;
    EXPECT_NE(status.message().find("make the globs disjoint"), std::string::npos) << status;
  }
  const Status load = LoadJobSplit(job, DataSplit::kValidation).status();
  EXPECT_EQ(load.code(), StatusCode::kInvalidArgument) << load;
  EXPECT_EQ(IndexTrainingData(job).status().code(), StatusCode::kInvalidArgument);

  const config::JobConfig disjoint = Job(dir.File("train-*.tfrecord"), dir.File("val-*.tfrecord"));
  EXPECT_TRUE(SplitFiles(disjoint.data(), DataSplit::kTrain).ok());
  EXPECT_TRUE(SplitFiles(disjoint.data(), DataSplit::kValidation).ok());
}

// The same file under another name: "sub/../" and a symbolic link.
TEST(JobDataAgreementTest, OverlapIsFoundUnderAnotherNameOfTheFile) {
  TempDir dir;
  std::filesystem::create_directory(dir.File("sub"));
  WriteExamples(dir.File("train-0.tfrecord"), 4);
  const config::JobConfig dotted =
      Job(dir.File("train-*.tfrecord"), dir.File("sub/../train-0.tfrecord"));
  EXPECT_EQ(SplitFiles(dotted.data(), DataSplit::kValidation).status().code(),
            StatusCode::kInvalidArgument);
  std::filesystem::create_symlink(dir.File("train-0.tfrecord"), dir.File("sub/val.tfrecord"));
  const config::JobConfig linked = Job(dir.File("train-*.tfrecord"), dir.File("sub/*.tfrecord"));
  const Status status = SplitFiles(linked.data(), DataSplit::kTrain).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find(dir.File("sub/val.tfrecord")), std::string::npos) << status;
}

// data.dir's shards as `data prepare` names them: train-* and test-* are two
// splits, whatever globs list them.
TEST(JobDataAgreementTest, PreparedShardsAndTheirGlobsStillList) {
  TempDir dir;
  WriteExamples(dir.File("train-00000-of-00002.tfrecord"), 4);
  WriteExamples(dir.File("train-00001-of-00002.tfrecord"), 4);
  WriteExamples(dir.File("test-00000-of-00001.tfrecord"), 4);
  const config::JobConfig prepared = Job("", "", dir.path());
  auto train = SplitFiles(prepared.data(), DataSplit::kTrain);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->size(), 2u);
  auto test = SplitFiles(prepared.data(), DataSplit::kValidation);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->size(), 1u);
  const config::JobConfig globs =
      Job(dir.File("train-*-of-*.tfrecord"), dir.File("test-*-of-*.tfrecord"));
  EXPECT_TRUE(SplitFiles(globs.data(), DataSplit::kTrain).ok());
  EXPECT_TRUE(SplitFiles(globs.data(), DataSplit::kValidation).ok());
}

}  // namespace
}  // namespace shardtrain::data
