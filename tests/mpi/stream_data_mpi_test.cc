// Streamed training data under mpirun (2 and 3 ranks), end to end below the
// coordinator's RPC: synthetic TFRecords whose features encode each example's
// id are indexed as the job's coordinator indexes them (data::
// IndexTrainingData), every rank plans with coordinator::PlanStreams and reads
// its stream through StreamBatches, and the ids each rank trained on are
// gathered over MPI. Checked: every epoch's multiset of ids is the dataset,
// for uncompressed and GZIP files and a PNG-encoded image set; a stage
// resumed on the same world size continues each rank's stream exactly; and an
// epoch begun on 2 ranks and finished on the running world size trains every
// example exactly once (stage 0's records from EmissionOrder).
#include <gtest/gtest.h>
#include <mpi.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "coordinator/stream_plan.h"
#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/data/job_data.h"
#include "worker/job_config.h"
#include "worker/stream_batches.h"

namespace shardtrain {
namespace {

constexpr int64_t kGlobalBatch = 8;
// Examples per file: ids [0, 37) in the first, [37, 87) in the second, ...
const std::vector<int> kFileSizes = {37, 50, 13};

enum class Encoding { kFloats, kPng };

// A PNG of `pixels` (8-bit grayscale, `width` x `height`), unfiltered rows.
std::string EncodeGrayPng(const std::vector<uint8_t>& pixels, uint32_t width, uint32_t height) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const auto crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
    return be32(static_cast<uint32_t>(data.size())) + body + be32(crc);
  };
  std::string raw;
  for (uint32_t y = 0; y < height; ++y) {
    raw += '\0';  // filter: none
    raw.append(reinterpret_cast<const char*>(pixels.data()) + y * width, width);
  }
  std::string packed(compressBound(static_cast<uLong>(raw.size())), '\0');
  uLongf packed_size = static_cast<uLongf>(packed.size());
  compress(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
           reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()));
  packed.resize(packed_size);
  const std::string header = be32(width) + be32(height) + std::string{8, 0, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", header) + chunk("IDAT", packed) +
         chunk("IEND", "");
}

// The 2 x 2 image of example `id`: [id % 256, id / 256, 255 - id % 256, 7].
std::vector<uint8_t> IdPixels(int id) {
  return {static_cast<uint8_t>(id % 256), static_cast<uint8_t>(id / 256),
          static_cast<uint8_t>(255 - id % 256), 7};
}

// Example `id`: its id as features (floats [id, -id], or the PNG of
// IdPixels), class id % 3.
std::string Example(int id, Encoding encoding) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  if (encoding == Encoding::kFloats) {
    features["id"].mutable_float_list()->add_value(static_cast<float>(id));
    features["id"].mutable_float_list()->add_value(static_cast<float>(-id));
  } else {
    features["image"].mutable_bytes_list()->add_value(EncodeGrayPng(IdPixels(id), 2, 2));
  }
  features["cls"].mutable_int64_list()->add_value(id % 3);
  return example.SerializeAsString();
}

// Each rank writes its own copy of the data set (the same bytes) to a
// temporary directory, and reads the job's files from there.
class DataSet {
 public:
  DataSet(Encoding encoding, config::Compression compression) {
    std::string pattern = (std::filesystem::temp_directory_path() / "stream_mpi.XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
    const auto kind = compression == config::GZIP ? storage::TfRecordCompression::kGzip
                                                  : storage::TfRecordCompression::kNone;
    int id = 0;
    for (size_t f = 0; f < kFileSizes.size(); ++f) {
      const std::string path = dir_ + "/part-" + std::to_string(f) + ".tfrecord";
      auto writer = storage::TfRecordWriter::Open(path, kind);
      EXPECT_TRUE(writer.ok()) << writer.status();
      for (int i = 0; i < kFileSizes[f]; ++i) {
        EXPECT_TRUE((*writer)->Write(Example(id++, encoding)).ok());
      }
      EXPECT_TRUE((*writer)->Close().ok());
    }
    config_ = Config(encoding, compression);
  }
  ~DataSet() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const config::JobConfig& config() const { return config_; }

 private:
  config::JobConfig Config(Encoding encoding, config::Compression compression) const {
    auto config = ParseJobConfig(R"pb(
                                   model { layers { dense { units: 3 } } }
                                   optimizer { sgd {} }
                                   loss { sparse_categorical_crossentropy { from_logits: true } }
                                   training { batch_size: 8 epochs: 2 seed: 5 }
                                   data {
                                     num_classes: 3
                                     shard_records: 8
                                     shuffle_buffer: 16
                                     label { key: "cls" }
                                   }
                                 )pb",
                                 "stream job");
    EXPECT_TRUE(config.ok()) << config.status();
    config::DataConfig* data = config->mutable_data();
    data->add_train_files(dir_ + "/part-*.tfrecord");
    data->set_compression(compression);
    config::FeatureSpec* feature = data->add_features();
    if (encoding == Encoding::kFloats) {
      feature->set_key("id");
      feature->set_type(config::FeatureSpec::FLOAT_LIST);
      feature->add_shape(2);
      config->mutable_model()->add_input_shape(2);
    } else {
      feature->set_key("image");
      feature->set_type(config::FeatureSpec::BYTES_PNG);
      for (int d : {2, 2, 1}) feature->add_shape(d);
      config->mutable_model()->add_input_shape(4);
    }
    EXPECT_TRUE(ValidateJobConfig(&*config).ok());
    return *config;
  }

  std::string dir_;
  config::JobConfig config_;
};

// What every rank streams from: the coordinator's plan (indexed here on every
// rank, as the same bytes give the same plan) and this rank's files.
struct Streams {
  coordinator::JobPlan plan;
  data::StreamFiles files;
  coordinator::StreamJob job;
  data::ExampleDecoder decoder;
};

StatusOr<Streams> OpenStreams(const config::JobConfig& config) {
  ASSIGN_OR_RETURN(data::TrainingIndex index, data::IndexTrainingData(config));
  ASSIGN_OR_RETURN(data::StreamFiles files,
                   data::StreamFilesForPlan(config, index.plan, comm::testing::Runtime()->rank()));
  const auto& shape = config.model().input_shape();
  ASSIGN_OR_RETURN(data::ExampleDecoder decoder,
                   data::ExampleDecoder::Create(config.data(), {shape.begin(), shape.end()}));
  coordinator::StreamJob job;
  const coordinator::JobPlan& plan = index.plan;
  job.seed = plan.seed();
  job.shuffle = plan.shuffle();
  job.global_batch = plan.global_batch();
  job.shuffle_buffer = plan.shuffle_buffer();
  job.shard_records = plan.shard_records();
  for (const coordinator::DataFile& file : plan.files()) {
    job.file_records.push_back(file.records());
    job.splittable.push_back(file.index_every() > 0);
  }
  return Streams{plan, std::move(files), job, std::move(decoder)};
}

// Stage `streams` of `epoch` for `rank` as the coordinator sends it.
coordinator::StreamAssignment ToAssignment(const coordinator::StageStreams& streams, int64_t epoch,
                                           int rank) {
  coordinator::StreamAssignment a;
  a.set_epoch(epoch);
  a.set_stage(streams.stage);
  a.set_skip_steps(streams.skip_steps);
  for (const RecordRange& range : streams.ranks[static_cast<size_t>(rank)].ranges) {
    coordinator::RecordRange* wire = a.add_ranges();
    wire->set_file(range.file);
    wire->set_first_record(range.first_record);
    wire->set_num_records(range.num_records);
  }
  for (int64_t examples : streams.RankExamples()) a.add_rank_examples(examples);
  return a;
}

// The id an example's decoded features encode (checking the encoding).
int64_t DecodedId(const float* x, Encoding encoding) {
  if (encoding == Encoding::kFloats) {
    EXPECT_EQ(x[1], -x[0]);
    return static_cast<int64_t>(x[0]);
  }
  const auto id = static_cast<int>(x[0] + 256 * x[1]);
  const std::vector<uint8_t> pixels = IdPixels(id);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(x[i], static_cast<float>(pixels[i])) << "id " << id;
  return id;
}

// The ids this rank trains on in `epoch` after `stages` on the running world
// size, up to `max_steps` steps (-1: all), in order; each row's class is
// checked against its id.
std::vector<int64_t> ReadRankIds(const Streams& s, Encoding encoding, int64_t epoch,
                                 const std::vector<DataStage>& stages, int64_t max_steps = -1) {
  comm::MpiRuntime* mpi = comm::testing::Runtime();
  auto planned = coordinator::PlanStreams(s.job, epoch, stages, mpi->world_size());
  EXPECT_TRUE(planned.ok()) << planned.status();
  if (!planned.ok()) return {};
  StreamSource source;
  source.files = &s.files;
  source.decoder = &s.decoder;
  source.seed = s.job.seed;
  source.shuffle_buffer = s.job.shuffle_buffer;
  source.rank = mpi->rank();
  source.global_batch = kGlobalBatch;
  source.epoch_examples =
      std::accumulate(s.job.file_records.begin(), s.job.file_records.end(), int64_t{0});
  auto batches = StreamBatches::Open(source, ToAssignment(*planned, epoch, mpi->rank()), stages);
  EXPECT_TRUE(batches.ok()) << batches.status();
  if (!batches.ok()) return {};
  const int64_t width = s.decoder.feature_size();
  std::vector<float> x(static_cast<size_t>(kGlobalBatch * width));
  std::vector<int32_t> classes(kGlobalBatch);
  std::vector<int64_t> ids;
  const int64_t steps = max_steps < 0 ? (*batches)->steps() : max_steps;
  for (int64_t step = 0; step < steps; ++step) {
    auto rows = (*batches)->Next(x.data(), classes.data(), nullptr);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) break;
    for (int64_t r = 0; r < rows->rows; ++r) {
      ids.push_back(DecodedId(x.data() + r * width, encoding));
      EXPECT_EQ(classes[static_cast<size_t>(r)], ids.back() % 3) << "id " << ids.back();
    }
  }
  return ids;
}

// Every rank's `ids`, concatenated in rank order.
std::vector<int64_t> GatherIds(const std::vector<int64_t>& ids) {
  comm::MpiRuntime* mpi = comm::testing::Runtime();
  const int world = mpi->world_size();
  int count = static_cast<int>(ids.size());
  std::vector<int> counts(static_cast<size_t>(world));
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::vector<int> displacements(static_cast<size_t>(world), 0);
  std::partial_sum(counts.begin(), counts.end() - 1, displacements.begin() + 1);
  std::vector<int64_t> all(static_cast<size_t>(displacements.back() + counts.back()));
  MPI_Allgatherv(ids.data(), count, MPI_INT64_T, all.data(), counts.data(), displacements.data(),
                 MPI_INT64_T, MPI_COMM_WORLD);
  return all;
}

std::vector<int64_t> Dataset() {
  std::vector<int64_t> ids(
      static_cast<size_t>(std::accumulate(kFileSizes.begin(), kFileSizes.end(), 0)));
  std::iota(ids.begin(), ids.end(), 0);
  return ids;
}

std::vector<int64_t> Sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

void ExpectEveryEpochOnce(Encoding encoding, config::Compression compression) {
  const DataSet data(encoding, compression);
  auto streams = OpenStreams(data.config());
  ASSERT_TRUE(streams.ok()) << streams.status();
  std::vector<int64_t> first_epoch;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    const std::vector<int64_t> all = GatherIds(ReadRankIds(*streams, encoding, epoch, {}));
    EXPECT_EQ(Sorted(all), Dataset()) << "epoch " << epoch;
    if (epoch == 0) {
      first_epoch = all;
    } else {
      EXPECT_NE(all, first_epoch) << "the epochs should be shuffled differently";
    }
  }
}

TEST(StreamDataMpiTest, EveryEpochTrainsEachExampleOnceUncompressed) {
  ExpectEveryEpochOnce(Encoding::kFloats, config::NONE);
}

TEST(StreamDataMpiTest, EveryEpochTrainsEachExampleOnceGzip) {
  ExpectEveryEpochOnce(Encoding::kFloats, config::GZIP);
}

TEST(StreamDataMpiTest, PngImagesStream) { ExpectEveryEpochOnce(Encoding::kPng, config::NONE); }

// A resumed stage (same world size, skip_steps = k) continues each rank's
// stream where it stopped: the same ids in the same order.
TEST(StreamDataMpiTest, ResumeOnTheSameWorldSizeContinuesEachStream) {
  const DataSet data(Encoding::kFloats, config::NONE);
  auto streams = OpenStreams(data.config());
  ASSERT_TRUE(streams.ok()) << streams.status();
  const int world = comm::testing::Runtime()->world_size();
  const std::vector<int64_t> uninterrupted = ReadRankIds(*streams, Encoding::kFloats, 1, {});
  constexpr int64_t kSteps = 5;
  std::vector<int64_t> resumed = ReadRankIds(*streams, Encoding::kFloats, 1, {}, kSteps);
  const std::vector<int64_t> rest =
      ReadRankIds(*streams, Encoding::kFloats, 1, {DataStage{world, kSteps}});
  resumed.insert(resumed.end(), rest.begin(), rest.end());
  EXPECT_EQ(resumed, uninterrupted);
}

// An epoch interrupted after k steps on 2 ranks and finished on this run's
// ranks: stage 0's trained records (EmissionOrder, each rank's rows of its
// first k steps) and stage 1's gathered ids are the dataset, once.
TEST(StreamDataMpiTest, TwoRanksThenThisWorldSizeTrainEachExampleOnce) {
  const DataSet data(Encoding::kFloats, config::NONE);
  auto streams = OpenStreams(data.config());
  ASSERT_TRUE(streams.ok()) << streams.status();
  constexpr int64_t kEpoch = 1;
  constexpr int64_t kSteps = 4;
  auto stage0 = coordinator::PlanStreams(streams->job, kEpoch, {}, 2);
  ASSERT_TRUE(stage0.ok()) << stage0.status();
  std::vector<int64_t> file_start = {0};
  for (int size : kFileSizes) file_start.push_back(file_start.back() + size);
  std::vector<int64_t> all;
  const std::vector<int64_t> rank_examples = stage0->RankExamples();
  for (int rank = 0; rank < 2; ++rank) {
    const std::vector<RecordId> order = coordinator::EmissionOrder(
        streams->job, kEpoch, 0, stage0->ranks[static_cast<size_t>(rank)], rank);
    int64_t trained = 0;
    for (int64_t s = 0; s < kSteps; ++s) {
      trained += StreamStepRows(rank_examples, kGlobalBatch, rank, s);
    }
    for (int64_t i = 0; i < trained; ++i) {
      all.push_back(file_start[static_cast<size_t>(order[static_cast<size_t>(i)].file)] +
                    order[static_cast<size_t>(i)].record);
    }
  }
  const std::vector<int64_t> stage1 =
      GatherIds(ReadRankIds(*streams, Encoding::kFloats, kEpoch, {DataStage{2, kSteps}}));
  all.insert(all.end(), stage1.begin(), stage1.end());
  EXPECT_EQ(Sorted(all), Dataset());
}

}  // namespace
}  // namespace shardtrain
