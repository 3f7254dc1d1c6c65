// Finds and loads a job's training and validation files. See job_data.h.
#include "worker/data/job_data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>

#include "common/shortest_decimal.h"
#include "storage/tfrecord/compression.h"
#include "storage/tfrecord/record_index.h"
#include "worker/data/example_decoder.h"
#include "worker/data/file_list.h"

namespace shardtrain::data {

bool HasValidationFiles(const config::DataConfig& data) {
  return !data.validation_files().empty() || data.train_files().empty();
}

bool HasValidationData(const config::JobConfig& config) {
  return HasValidationFiles(config.data()) || config.training().validation_split() > 0;
}

std::string SplitSource(const config::DataConfig& data, DataSplit split) {
  if (split == DataSplit::kTrain) {
    return data.train_files().empty() ? "the train shards in " + data.dir() : "data.train_files";
  }
  return data.validation_files().empty() ? "the test shards in " + data.dir()
                                         : "data.validation_files";
}

bool IsPreparedSplit(const config::DataConfig& data, DataSplit split) {
  return data.train_files().empty() &&
         (split == DataSplit::kTrain || data.validation_files().empty());
}

namespace {

// The files of `split` alone (SplitFiles without the overlap check).
StatusOr<std::vector<std::string>> ExpandSplit(const config::DataConfig& data, DataSplit split) {
  const bool train = split == DataSplit::kTrain;
  const auto& patterns = train ? data.train_files() : data.validation_files();
  if (!patterns.empty()) {
    return MatchFiles({patterns.begin(), patterns.end()},
                      train ? "data.train_files" : "data.validation_files");
  }
  if (!train && !data.train_files().empty()) {
    return NotFoundError(
        "the job has no validation files: data.train_files is set and "
        "data.validation_files is not");
  }
  return ListShards(data.dir(), train ? "train" : "test");
}

// The path `path` names once links, "." and ".." are resolved (as far as it exists).
std::string CanonicalPath(const std::string& path) {
  std::error_code error;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  return error ? path : canonical.string();
}

// InvalidArgument naming the first validation file that is a training file
// too (the same file however named): fit would train on what it validates on.
Status CheckSplitsDisjoint(const config::DataConfig& data, const std::vector<std::string>& train,
                           const std::vector<std::string>& validation) {
  std::set<std::string> trained;
  for (const std::string& path : train) trained.insert(CanonicalPath(path));
  for (const std::string& path : validation) {
    if (trained.count(CanonicalPath(path)) == 0) continue;
    return InvalidArgumentError(
        path + " is both a training and a validation file (" +
        SplitSource(data, DataSplit::kTrain) + " and " + SplitSource(data, DataSplit::kValidation) +
        " both match it): the job would train on its validation data; make the globs "
        "disjoint (e.g. data.train_files \"data/train-*.tfrecord\" beside "
        "data.validation_files \"data/val-*.tfrecord\")");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<std::string>> SplitFiles(const config::DataConfig& data, DataSplit split) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandSplit(data, split));
  if (!HasValidationFiles(data)) return files;
  // The other split's own errors are its loader's to report.
  const bool train = split == DataSplit::kTrain;
  auto other = ExpandSplit(data, train ? DataSplit::kValidation : DataSplit::kTrain);
  if (!other.ok()) return files;
  RETURN_IF_ERROR(train ? CheckSplitsDisjoint(data, files, *other)
                        : CheckSplitsDisjoint(data, *other, files));
  return files;
}

StatusOr<Dataset> LoadFilesForJob(const config::JobConfig& config,
                                  const std::vector<std::string>& paths, int64_t max_examples,
                                  bool labels, bool prepared_shards) {
  const config::DataConfig& data = config.data();
  const auto& shape = config.model().input_shape();
  ASSIGN_OR_RETURN(const ExampleDecoder decoder,
                   ExampleDecoder::Create(data, {shape.begin(), shape.end()}));
  LoadOptions options;
  options.compression = data.compression();
  options.max_examples = max_examples;
  options.labels = labels;
  options.prepared_shards = prepared_shards;
  return LoadFiles(paths, decoder, options);
}

StatusOr<Dataset> LoadJobSplit(const config::JobConfig& config, DataSplit split, bool labels) {
  const config::DataConfig& data = config.data();
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, SplitFiles(data, split));
  return LoadFilesForJob(config, paths,
                         split == DataSplit::kTrain ? data.train_examples() : data.test_examples(),
                         labels, IsPreparedSplit(data, split));
}

int64_t StreamShuffleBuffer(const config::JobConfig& config) {
  if (!config.training().shuffle()) return 1;
  const int64_t slots = config.data().shuffle_buffer();
  return slots > 0 ? slots : kDefaultShuffleBuffer;
}

int64_t StreamIndexEvery(const config::DataConfig& data) {
  return data.shard_records() > 0 ? data.shard_records() : kDefaultShardRecords;
}

int64_t StreamShardRecords(const config::DataConfig& data, int64_t used_records) {
  if (data.shard_records() > 0) return data.shard_records();
  const int64_t per_shard = (used_records + kDefaultShardsPerJob - 1) / kDefaultShardsPerJob;
  return std::clamp<int64_t>(per_shard, 1, kDefaultShardRecords);
}

int StreamReaderThreads(const config::DataConfig& data) {
  return data.reader_threads() > 0 ? data.reader_threads() : kDefaultReaderThreads;
}

StatusOr<storage::TfRecordReaderOptions> SplitReaderOptions(const config::DataConfig& data,
                                                            DataSplit split) {
  storage::TfRecordReaderOptions options;
  options.damage_hint = IsPreparedSplit(data, split)
                            ? "the file is damaged — re-create it with `shardtrain data prepare`"
                            : "the file is damaged; re-create it from its source";
  ASSIGN_OR_RETURN(options.compression, storage::TfRecordCompressionFromConfig(data.compression()));
  return options;
}

namespace {

// Keras's validation_split cut of `n` examples: the training part's size
// (dataset.h's SplitForValidation, with its error).
StatusOr<int64_t> ValidationSplitAt(int64_t n, double validation_split) {
  const auto split_at =
      static_cast<int64_t>(std::floor(static_cast<double>(n) * (1.0 - validation_split)));
  if (split_at > 0 && split_at < n) return split_at;
  return InvalidArgumentError(
      "training data contains " + std::to_string(n) +
      " examples, which is not sufficient to split it into a validation and training set as "
      "specified by training.validation_split = " +
      std::to_string(validation_split) +
      "; use more examples (data.train_examples) or another validation_split");
}

// Keeps the first `keep` records of the plan's files (later files 0), and the
// offsets that index them.
void KeepRecords(int64_t keep, coordinator::JobPlan* plan) {
  for (coordinator::DataFile& file : *plan->mutable_files()) {
    file.set_records(std::min(file.records(), keep));
    keep -= file.records();
    if (file.index_every() > 0) {
      const int64_t offsets = (file.records() + file.index_every() - 1) / file.index_every();
      file.mutable_offsets()->Truncate(
          static_cast<int>(std::min<int64_t>(offsets, file.offsets_size())));
    }
  }
}

// The in-memory loader's shard sizes: the records used per file, up to the
// last file used.
void SetShardSizes(coordinator::JobPlan* plan) {
  plan->clear_shard_sizes();
  int last_used = -1;
  for (int f = 0; f < plan->files_size(); ++f) {
    if (plan->files(f).records() > 0) last_used = f;
  }
  for (int f = 0; f <= last_used; ++f) plan->add_shard_sizes(plan->files(f).records());
}

}  // namespace

StatusOr<TrainingIndex> IndexTrainingData(const config::JobConfig& config) {
  const config::DataConfig& data = config.data();
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, SplitFiles(data, DataSplit::kTrain));
  ASSIGN_OR_RETURN(const storage::TfRecordReaderOptions options,
                   SplitReaderOptions(data, DataSplit::kTrain));
  TrainingIndex index;
  coordinator::JobPlan& plan = index.plan;
  const int64_t limit =
      data.train_examples() > 0 ? data.train_examples() : std::numeric_limits<int64_t>::max();
  std::vector<int64_t> file_records;
  size_t full_files = 0;  // files read to their end before the limit was reached
  int64_t used = 0;
  for (const std::string& path : paths) {
    coordinator::DataFile* file = plan.add_files();
    file->set_path(path);
    if (used >= limit) continue;  // as LoadFiles, files past the limit are not read
    ASSIGN_OR_RETURN(const storage::RecordIndex records,
                     storage::IndexTfRecordFile(path, StreamIndexEvery(data), options));
    if (records.records == 0) {
      return DataLossError(path + " holds no record: an empty shard (" + options.damage_hint + ")");
    }
    file->set_records(std::min(records.records, limit - used));
    file->set_index_every(records.index_every);
    file->mutable_offsets()->Add(records.offsets.begin(), records.offsets.end());
    used += file->records();
    file_records.push_back(records.records);
    if (used < limit) ++full_files;
  }
  if (config.training().validation_split() > 0) {
    ASSIGN_OR_RETURN(used, ValidationSplitAt(used, config.training().validation_split()));
  }
  KeepRecords(used, &plan);
  if (IsPreparedSplit(data, DataSplit::kTrain)) {
    index.warnings = UnevenShardWarnings(paths, file_records, full_files);
  }
  plan.set_seed(config.training().seed());
  plan.set_shuffle(config.training().shuffle());
  plan.set_global_batch(config.training().batch_size());
  SetShardSizes(&plan);
  plan.set_streaming(true);
  plan.set_shard_records(StreamShardRecords(data, used));
  plan.set_shuffle_buffer(StreamShuffleBuffer(config));
  plan.set_train_examples(data.train_examples());
  plan.set_validation_split(config.training().validation_split());
  return index;
}

namespace {

// data.train_examples as a message shows it.
std::string ExampleLimit(int64_t limit) { return limit > 0 ? std::to_string(limit) : "all (0)"; }

// The plan's stream order and records must be the ones `config` reads with:
// the rank shuffles with its own seed and cuts its own global batches, while
// the coordinator replays streams with the plan's; the plan's records were cut
// with its train_examples and validation_split, which the rank's checkpoint
// and validation tail follow its own config for (FailedPrecondition naming
// the first field that differs).
Status CheckPlanMatchesStreamOrder(const config::JobConfig& config,
                                   const coordinator::JobPlan& plan, const std::string& who) {
  const config::TrainingConfig& training = config.training();
  const struct {
    const char* field;
    std::string planned, own;
  } fields[] = {
      {"training.seed", std::to_string(plan.seed()), std::to_string(training.seed())},
      {"training.shuffle", plan.shuffle() ? "true" : "false",
       training.shuffle() ? "true" : "false"},
      {"training.batch_size", std::to_string(plan.global_batch()),
       std::to_string(training.batch_size())},
      {"data.shuffle_buffer", std::to_string(plan.shuffle_buffer()),
       std::to_string(StreamShuffleBuffer(config))},
      {"data.train_examples", ExampleLimit(plan.train_examples()),
       ExampleLimit(config.data().train_examples())},
      {"training.validation_split", ShortestDecimal(plan.validation_split()),
       ShortestDecimal(training.validation_split())},
  };
  for (const auto& f : fields) {
    if (f.planned == f.own) continue;
    return FailedPreconditionError(std::string(f.field) + " differs: the coordinator plans " +
                                   f.planned + ", " + who + " has " + f.own +
                                   "; start the coordinator with the same config and flags");
  }
  return OkStatus();
}

}  // namespace

StatusOr<StreamFiles> StreamFilesForPlan(const config::JobConfig& config,
                                         const coordinator::JobPlan& plan, int rank) {
  const std::string who = "rank " + std::to_string(rank);
  const std::string fix = "; start the coordinator with the same config and data";
  if (!plan.streaming()) {
    return FailedPreconditionError("the coordinator plans in-memory training data but " + who +
                                   " streams it (data.in_memory differs)" + fix);
  }
  RETURN_IF_ERROR(CheckPlanMatchesStreamOrder(config, plan, who));
  const config::DataConfig& data = config.data();
  ASSIGN_OR_RETURN(std::vector<std::string> paths, SplitFiles(data, DataSplit::kTrain));
  if (static_cast<int>(paths.size()) != plan.files_size()) {
    return FailedPreconditionError("the coordinator plans " + std::to_string(plan.files_size()) +
                                   " training files but " + who + " lists " +
                                   std::to_string(paths.size()) + " (" +
                                   SplitSource(data, DataSplit::kTrain) + ")" + fix);
  }
  StreamFiles files;
  for (size_t f = 0; f < paths.size(); ++f) {
    const coordinator::DataFile& planned = plan.files(static_cast<int>(f));
    namespace fs = std::filesystem;
    if (fs::path(paths[f]).filename() != fs::path(planned.path()).filename()) {
      return FailedPreconditionError("training file " + std::to_string(f) +
                                     " differs: the coordinator plans " + planned.path() + ", " +
                                     who + " lists " + paths[f] + fix);
    }
    storage::RecordIndex index;
    index.records = planned.records();
    index.index_every = planned.index_every();
    index.offsets.assign(planned.offsets().begin(), planned.offsets().end());
    files.indexes.push_back(std::move(index));
  }
  files.paths = std::move(paths);
  files.compression = data.compression();
  files.prepared_shards = IsPreparedSplit(data, DataSplit::kTrain);
  return files;
}

namespace {

// Appends the examples `reader` reads (from its position) to `dataset` until
// the file ends or `dataset` holds `limit` examples.
Status AppendRecords(const ExampleDecoder& decoder, int64_t limit, storage::TfRecordReader* reader,
                     Dataset* dataset) {
  const auto features = static_cast<size_t>(dataset->feature_size);
  const auto width = static_cast<size_t>(dataset->label_width);
  std::string_view record;
  while (dataset->num_examples < limit) {
    ASSIGN_OR_RETURN(const bool more, reader->NextView(&record));
    if (!more) break;
    const auto n = static_cast<size_t>(dataset->num_examples);
    dataset->features.resize((n + 1) * features);
    int32_t* class_id = nullptr;
    float* values = nullptr;
    if (width == 0) {
      dataset->labels.push_back(0);
      class_id = &dataset->labels.back();
    } else {
      dataset->label_values.resize((n + 1) * width);
      values = dataset->label_values.data() + n * width;
    }
    RETURN_IF_ERROR(
        decoder.Decode(record, dataset->features.data() + n * features, class_id, values)
            .WithContext(reader->path() + ", record " +
                         std::to_string(reader->records_read() - 1)));
    ++dataset->num_examples;
  }
  return OkStatus();
}

// Opens `files`' file `f` at record `first` (seeking near it with its offsets
// when it is uncompressed, then skipping the rest); DataLoss when the file
// ends before `first`.
StatusOr<std::unique_ptr<storage::TfRecordReader>> OpenAtRecord(
    const StreamFiles& files, size_t f, int64_t first,
    const storage::TfRecordReaderOptions& options) {
  ASSIGN_OR_RETURN(auto reader, storage::TfRecordReader::Open(files.paths[f], options));
  const storage::RecordIndex& index = files.indexes[f];
  int64_t at = 0;
  if (index.index_every > 0 && first >= index.index_every) {
    const int64_t entry = std::min<int64_t>(first / index.index_every,
                                            static_cast<int64_t>(index.offsets.size()) - 1);
    if (entry > 0) {
      at = entry * index.index_every;
      RETURN_IF_ERROR(reader->Seek(static_cast<uint64_t>(index.offsets[entry]), at));
    }
  }
  for (; at < first; ++at) {
    ASSIGN_OR_RETURN(const bool skipped, reader->Skip());
    if (!skipped) {
      return DataLossError(files.paths[f] + " ends at record " + std::to_string(at) +
                           " but holds " + std::to_string(first) +
                           " training records in the coordinator's index: the file shrank "
                           "since it was indexed; restart the job on unchanged data");
    }
  }
  return reader;
}

}  // namespace

StatusOr<Dataset> LoadValidationTail(const config::JobConfig& config, const StreamFiles& files) {
  const config::DataConfig& data = config.data();
  const auto& shape = config.model().input_shape();
  ASSIGN_OR_RETURN(const ExampleDecoder decoder,
                   ExampleDecoder::Create(data, {shape.begin(), shape.end()}));
  ASSIGN_OR_RETURN(const storage::TfRecordReaderOptions options,
                   SplitReaderOptions(data, DataSplit::kTrain));
  size_t first_file = 0;
  int64_t trained = 0;
  for (size_t f = 0; f < files.indexes.size(); ++f) {
    trained += files.indexes[f].records;
    if (files.indexes[f].records > 0) first_file = f;
  }
  Dataset dataset;
  dataset.feature_size = decoder.feature_size();
  dataset.label_width = decoder.label_width();
  const int64_t limit = data.train_examples() > 0 ? data.train_examples() - trained
                                                  : std::numeric_limits<int64_t>::max();
  for (size_t f = first_file; f < files.paths.size() && dataset.num_examples < limit; ++f) {
    const int64_t first = f == first_file ? files.indexes[f].records : 0;
    ASSIGN_OR_RETURN(auto reader, OpenAtRecord(files, f, first, options));
    RETURN_IF_ERROR(AppendRecords(decoder, limit, reader.get(), &dataset));
  }
  if (dataset.num_examples == 0) {
    return FailedPreconditionError(
        "training.validation_split: no examples follow the coordinator's " +
        std::to_string(trained) + " training examples in " + SplitSource(data, DataSplit::kTrain) +
        "; start the coordinator with the same config and data");
  }
  dataset.shard_sizes = {dataset.num_examples};
  return dataset;
}

}  // namespace shardtrain::data
