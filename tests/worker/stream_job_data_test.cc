// Streamed training data of a job (worker/data/job_data.h): the coordinator's
// index of the training files (records used after data.train_examples and
// validation_split, offsets, defaults), a rank's check of its files against
// the plan, the validation_split part read from the files' tail (equal to the
// in-memory split), and the data config's streaming fields' validation.
#include <gtest/gtest.h>

#include <filesystem>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"
#include "worker/data/job_data.h"
#include "worker/job_config.h"

namespace shardtrain::data {
namespace {

using testing::TempDir;

// Example i: x = [i, -i], class i % 3.
std::string Example(int i) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  features["x"].mutable_float_list()->add_value(static_cast<float>(i));
  features["x"].mutable_float_list()->add_value(static_cast<float>(-i));
  features["cls"].mutable_int64_list()->add_value(i % 3);
  return example.SerializeAsString();
}

// Writes examples [first, first + count) to `path`.
void WriteExamples(const std::string& path, int first, int count,
                   storage::TfRecordCompression compression = storage::TfRecordCompression::kNone) {
  auto writer = storage::TfRecordWriter::Open(path, compression);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (int i = first; i < first + count; ++i) ASSERT_TRUE((*writer)->Write(Example(i)).ok());
  ASSERT_TRUE((*writer)->Close().ok());
}

// Files a (5 examples: 0-4), b (7: 5-11), c (4: 12-15) in `dir`.
void WriteThreeFiles(const TempDir& dir, storage::TfRecordCompression compression =
                                             storage::TfRecordCompression::kNone) {
  WriteExamples(dir.File("a.tfrecord"), 0, 5, compression);
  WriteExamples(dir.File("b.tfrecord"), 5, 7, compression);
  WriteExamples(dir.File("c.tfrecord"), 12, 4, compression);
}

config::JobConfig Job(const TempDir& dir) {
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
                                   shard_records: 3
                                   features {
                                     key: "x"
                                     type: FLOAT_LIST
                                     shape: [ 2 ]
                                   }
                                   label { key: "cls" }
                                 }
                               )pb",
                               "stream job");
  EXPECT_TRUE(config.ok()) << config.status();
  config->mutable_data()->add_train_files(dir.File("*.tfrecord"));
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
  return *config;
}

std::vector<int64_t> Records(const coordinator::JobPlan& plan) {
  std::vector<int64_t> records;
  for (const auto& file : plan.files()) records.push_back(file.records());
  return records;
}

TEST(StreamJobDataTest, IndexesEveryFileWithOffsetsAndDefaults) {
  TempDir dir;
  WriteThreeFiles(dir);
  auto index = IndexTrainingData(Job(dir));
  ASSERT_TRUE(index.ok()) << index.status();
  const coordinator::JobPlan& plan = index->plan;
  EXPECT_TRUE(plan.streaming());
  EXPECT_EQ(Records(plan), (std::vector<int64_t>{5, 7, 4}));
  EXPECT_EQ(plan.shard_sizes(0) + plan.shard_sizes(1) + plan.shard_sizes(2), 16);
  EXPECT_EQ(plan.files(1).path(), dir.File("b.tfrecord"));
  EXPECT_EQ(plan.files(1).index_every(), 3);
  ASSERT_EQ(plan.files(1).offsets_size(), 3);  // records 0, 3, 6
  EXPECT_EQ(plan.files(1).offsets(0), 0);
  EXPECT_EQ(plan.shard_records(), 3);
  EXPECT_EQ(plan.shuffle_buffer(), kDefaultShuffleBuffer);
  EXPECT_EQ(plan.seed(), 7u);
  EXPECT_EQ(plan.global_batch(), 4);
  EXPECT_TRUE(plan.shuffle());

  config::JobConfig unshuffled = Job(dir);
  unshuffled.mutable_training()->set_shuffle(false);
  unshuffled.mutable_data()->set_shuffle_buffer(50);
  unshuffled.mutable_data()->set_shard_records(0);
  index = IndexTrainingData(unshuffled);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->plan.shuffle_buffer(), 1);  // no mixing without training.shuffle
  EXPECT_EQ(index->plan.shard_records(), 1);   // ceil(16 / 64): the default follows the data
  EXPECT_EQ(index->plan.files(0).index_every(), kDefaultShardRecords);
  EXPECT_EQ(StreamReaderThreads(unshuffled.data()), kDefaultReaderThreads);
}

// The default shard size is a function of the records used (64 shards, at
// most 1024 records each), so a small one-file job has a shard for every rank;
// a set data.shard_records is kept.
TEST(StreamJobDataTest, DefaultShardRecordsFollowTheData) {
  TempDir dir;
  WriteExamples(dir.File("one.tfrecord"), 0, 960);
  config::JobConfig job = Job(dir);
  job.mutable_data()->set_shard_records(0);
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->plan.shard_records(), 15);
  EXPECT_EQ(index->plan.files(0).index_every(), kDefaultShardRecords);
  job.mutable_training()->set_validation_split(0.5);  // 480 records train
  index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->plan.shard_records(), 8);

  config::DataConfig data;
  EXPECT_EQ(StreamShardRecords(data, 1'000'000), kDefaultShardRecords);
  EXPECT_EQ(StreamShardRecords(data, 1), 1);
  data.set_shard_records(100);
  EXPECT_EQ(StreamShardRecords(data, 960), 100);
  EXPECT_EQ(StreamIndexEvery(data), 100);
}

TEST(StreamJobDataTest, TrainExamplesCutsTheFilesAndLeavesLaterOnesUnread) {
  TempDir dir;
  WriteThreeFiles(dir);
  config::JobConfig job = Job(dir);
  job.mutable_data()->set_train_examples(10);
  std::filesystem::resize_file(dir.File("c.tfrecord"), 3);  // never read: past the limit
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(Records(index->plan), (std::vector<int64_t>{5, 5, 0}));
  EXPECT_EQ(index->plan.files(1).offsets_size(), 2);  // what indexes records 0-4
  EXPECT_EQ(index->plan.files(2).offsets_size(), 0);
  EXPECT_EQ(
      std::vector<int64_t>(index->plan.shard_sizes().begin(), index->plan.shard_sizes().end()),
      (std::vector<int64_t>{5, 5}));  // as the in-memory loader's
}

// The validation part streams from the plan's cut to the used examples' end
// and equals LoadJobSplit + SplitForValidation's, whether the cut falls at a
// file's end or inside a file (seeking there by the offsets), compressed or not.
TEST(StreamJobDataTest, ValidationTailEqualsTheInMemorySplit) {
  for (const auto compression :
       {storage::TfRecordCompression::kNone, storage::TfRecordCompression::kGzip}) {
    for (const double split : {0.25, 0.5, 0.3}) {
      for (const int64_t train_examples : {0, 15}) {
        TempDir dir;
        WriteThreeFiles(dir, compression);
        config::JobConfig job = Job(dir);
        if (compression != storage::TfRecordCompression::kNone) {
          job.mutable_data()->set_compression(config::GZIP);
        }
        job.mutable_training()->set_validation_split(split);
        job.mutable_data()->set_train_examples(train_examples);
        SCOPED_TRACE("split " + std::to_string(split) + ", train_examples " +
                     std::to_string(train_examples));
        auto index = IndexTrainingData(job);
        ASSERT_TRUE(index.ok()) << index.status();
        auto loaded = LoadJobSplit(job, DataSplit::kTrain);
        ASSERT_TRUE(loaded.ok()) << loaded.status();
        auto parts = SplitForValidation(*std::move(loaded), split);
        ASSERT_TRUE(parts.ok()) << parts.status();
        EXPECT_EQ(std::vector<int64_t>(index->plan.shard_sizes().begin(),
                                       index->plan.shard_sizes().end()),
                  parts->first.shard_sizes);
        auto files = StreamFilesForPlan(job, index->plan, 1);
        ASSERT_TRUE(files.ok()) << files.status();
        auto tail = LoadValidationTail(job, *files);
        ASSERT_TRUE(tail.ok()) << tail.status();
        EXPECT_EQ(tail->num_examples, parts->second.num_examples);
        EXPECT_EQ(tail->features, parts->second.features);
        EXPECT_EQ(tail->labels, parts->second.labels);
        EXPECT_EQ(tail->shard_sizes, parts->second.shard_sizes);
      }
    }
  }
}

// A file that shrank after indexing below its training records is DataLoss
// naming it and the record where it ends, not a shorter validation part.
TEST(StreamJobDataTest, ValidationTailOfAShrunkFileIsDataLoss) {
  TempDir dir;
  WriteThreeFiles(dir);
  config::JobConfig job = Job(dir);
  job.mutable_training()->set_validation_split(0.5);  // trains on a (5) and b's first 3
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  WriteExamples(dir.File("b.tfrecord"), 5, 2);
  auto files = StreamFilesForPlan(job, index->plan, 0);
  ASSERT_TRUE(files.ok()) << files.status();
  const Status status = LoadValidationTail(job, *files).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(dir.File("b.tfrecord") + " ends at record 2"), std::string::npos)
      << status;
}

TEST(StreamJobDataTest, CompressedFilesAreIndexedWithoutOffsets) {
  TempDir dir;
  WriteThreeFiles(dir, storage::TfRecordCompression::kGzip);
  config::JobConfig job = Job(dir);
  job.mutable_data()->set_compression(config::GZIP);
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(Records(index->plan), (std::vector<int64_t>{5, 7, 4}));
  EXPECT_EQ(index->plan.files(0).index_every(), 0);
  EXPECT_EQ(index->plan.files(0).offsets_size(), 0);
  job.mutable_data()->set_compression(config::NONE);  // the setting is named
  const Status status = IndexTrainingData(job).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(dir.File("a.tfrecord")), std::string::npos) << status;
}

TEST(StreamJobDataTest, EmptyFilesAndTooSmallSplitsAreErrors) {
  TempDir dir;
  WriteThreeFiles(dir);
  config::JobConfig job = Job(dir);
  job.mutable_training()->set_validation_split(0.95);  // floor(16 * 0.05): nothing trains
  Status status = IndexTrainingData(job).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("training.validation_split"), std::string::npos) << status;

  WriteExamples(dir.File("b.tfrecord"), 0, 0);
  status = IndexTrainingData(Job(dir)).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(dir.File("b.tfrecord") + " holds no record"), std::string::npos)
      << status;
}

TEST(StreamJobDataTest, ARankRefusesAPlanOfOtherFiles) {
  TempDir dir;
  WriteThreeFiles(dir);
  const config::JobConfig job = Job(dir);
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  auto files = StreamFilesForPlan(job, index->plan, 2);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->paths[2], dir.File("c.tfrecord"));
  EXPECT_EQ(files->indexes[1].records, 7);
  EXPECT_EQ(files->indexes[1].offsets.size(), 3u);

  coordinator::JobPlan renamed = index->plan;
  renamed.mutable_files(1)->set_path("/elsewhere/b2.tfrecord");
  Status status = StreamFilesForPlan(job, renamed, 2).status();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("training file 1"), std::string::npos) << status;
  EXPECT_NE(status.message().find("/elsewhere/b2.tfrecord"), std::string::npos) << status;

  coordinator::JobPlan moved = index->plan;  // another directory, same base names: fine
  for (auto& file : *moved.mutable_files()) {
    file.set_path("/mnt/data/" + std::filesystem::path(file.path()).filename().string());
  }
  EXPECT_TRUE(StreamFilesForPlan(job, moved, 2).ok());

  coordinator::JobPlan fewer = index->plan;
  fewer.mutable_files()->RemoveLast();
  status = StreamFilesForPlan(job, fewer, 2).status();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("plans 2 training files but rank 2 lists 3"), std::string::npos)
      << status;

  coordinator::JobPlan in_memory = index->plan;
  in_memory.set_streaming(false);
  EXPECT_EQ(StreamFilesForPlan(job, in_memory, 2).status().code(), StatusCode::kFailedPrecondition);
}

// A coordinator started with another seed, shuffle, batch size or shuffle
// buffer would replay other streams than the rank reads: refused by name.
TEST(StreamJobDataTest, ARankRefusesAPlanOfAnotherStreamOrder) {
  TempDir dir;
  WriteThreeFiles(dir);
  const config::JobConfig job = Job(dir);
  auto index = IndexTrainingData(job);
  ASSERT_TRUE(index.ok()) << index.status();
  const struct {
    const char* field;
    void (*set)(coordinator::JobPlan*);
  } cases[] = {
      {"training.seed differs: the coordinator plans 8, rank 1 has 7",
       [](coordinator::JobPlan* p) { p->set_seed(8); }},
      {"training.shuffle differs", [](coordinator::JobPlan* p) { p->set_shuffle(false); }},
      {"training.batch_size differs", [](coordinator::JobPlan* p) { p->set_global_batch(8); }},
      {"data.shuffle_buffer differs", [](coordinator::JobPlan* p) { p->set_shuffle_buffer(5); }},
  };
  for (const auto& c : cases) {
    coordinator::JobPlan plan = index->plan;
    c.set(&plan);
    const Status status = StreamFilesForPlan(job, plan, 1).status();
    EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
    EXPECT_NE(status.message().find(c.field), std::string::npos) << status;
  }
}

TEST(StreamJobDataTest, StreamingFieldsAreValidatedByName) {
  TempDir dir;
  const struct {
    const char* field;
    void (*set)(config::DataConfig*);
  } cases[] = {
      {"data.shuffle_buffer", [](config::DataConfig* d) { d->set_shuffle_buffer(-1); }},
      {"data.shard_records", [](config::DataConfig* d) { d->set_shard_records(-5); }},
      {"data.reader_threads", [](config::DataConfig* d) { d->set_reader_threads(65); }},
      {"data.reader_threads", [](config::DataConfig* d) { d->set_reader_threads(-1); }},
  };
  for (const auto& c : cases) {
    config::JobConfig job = Job(dir);
    c.set(job.mutable_data());
    const Status status = ValidateJobConfig(&job);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(c.field), std::string::npos) << status;
  }
  config::JobConfig job = Job(dir);
  job.mutable_data()->set_reader_threads(64);
  job.mutable_data()->set_in_memory(true);
  EXPECT_TRUE(ValidateJobConfig(&job).ok());
}

}  // namespace
}  // namespace shardtrain::data
