// The data of a job (config::DataConfig): which files hold its training and
// validation examples, and loading them with the job's feature spec.
//
// Contract: training data is data.train_files (globs, file_list.h's
// MatchFiles) or, without them, data.dir's train-NNNNN-of-NNNNN.tfrecord
// shards; validation data is data.validation_files, or with neither
// train_files nor validation_files set, data.dir's test shards. A job with
// train_files and no validation_files has no validation files: it validates
// on training.validation_split's part when that is set, else not at all.
// Loading uses an ExampleDecoder made from data and model.input_shape (the
// config must have passed ValidateJobConfig, which fills model from
// model_json), data.compression, and keeps the first data.train_examples
// (training) or data.test_examples (validation) examples; errors as
// dataset.h's LoadFiles, and NotFound from file listing. Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"
#include "worker/data/dataset.h"

namespace shardtrain::data {

enum class DataSplit { kTrain, kValidation };

// Whether `data` names validation files (validation_files, or the dir layout's test split).
bool HasValidationFiles(const config::DataConfig& data);

// Whether fit validates: validation files, or training.validation_split > 0.
bool HasValidationData(const config::JobConfig& config);

// The files of `split`, in reading order; NotFound when there are none.
StatusOr<std::vector<std::string>> SplitFiles(const config::DataConfig& data, DataSplit split);

// "data.train_files" / "data.dir's test split": names `split`'s source in messages.
std::string SplitSource(const config::DataConfig& data, DataSplit split);

// Whether `split`'s files are data.dir's prepared shards (ListShards), not
// the user's own train_files / validation_files.
bool IsPreparedSplit(const config::DataConfig& data, DataSplit split);

// Loads `paths` with the job's feature spec and compression, keeping the
// first `max_examples` (0 = all), with targets unless `labels` is false.
// `prepared_shards`: the files are a ListShards set (LoadOptions).
StatusOr<Dataset> LoadFilesForJob(const config::JobConfig& config,
                                  const std::vector<std::string>& paths, int64_t max_examples,
                                  bool labels, bool prepared_shards);

// Loads `split` of the job's data, with targets unless `labels` is false.
StatusOr<Dataset> LoadJobSplit(const config::JobConfig& config, DataSplit split,
                               bool labels = true);

}  // namespace shardtrain::data
