// Finds and loads a job's training and validation files. See job_data.h.
#include "worker/data/job_data.h"

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

StatusOr<std::vector<std::string>> SplitFiles(const config::DataConfig& data, DataSplit split) {
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

}  // namespace shardtrain::data
