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
// dataset.h's LoadFiles, and NotFound from file listing.
//
// Streamed training data (data.in_memory false): the coordinator's side
// indexes the training files (IndexTrainingData: storage::IndexTfRecordFile,
// every StreamIndexEvery-th offset of uncompressed files) and cuts the
// records used as LoadJobSplit + SplitForValidation would: the first
// data.train_examples, of which training.validation_split's part (the last
// examples, as Keras) validates; the result is the streaming fields of the
// coordinator's JobPlan. Each rank checks that its own file list matches the
// plan (StreamFilesForPlan) and may load the validation part in memory
// (LoadValidationTail: the used records after the plan's training records).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"
#include "proto/coordinator.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/dataset.h"
#include "worker/data/example_stream.h"

namespace shardtrain::data {

enum class DataSplit { kTrain, kValidation };

// Whether `data` names validation files (validation_files, or the dir layout's test split).
bool HasValidationFiles(const config::DataConfig& data);

// Whether fit validates: validation files, or training.validation_split > 0.
bool HasValidationData(const config::JobConfig& config);

// The files of `split`, in reading order; NotFound when there are none.
// InvalidArgument naming the first validation file that is also a training
// file (compared as weakly_canonical paths, so "a/../x" and a link name the
// same file), when both splits list files: fit would train on its
// validation data. The other split's own listing errors are not reported.
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

// What 0 means for data.shuffle_buffer, data.shard_records and data.reader_threads.
inline constexpr int64_t kDefaultShuffleBuffer = 10000;
inline constexpr int64_t kDefaultShardRecords = 1024;  // the most records per default shard
inline constexpr int64_t kDefaultShardsPerJob = 64;    // default shards of a small job
inline constexpr int kDefaultReaderThreads = 2;

// Shuffle buffer slots of a streamed job: 1 without training.shuffle, else
// data.shuffle_buffer (0 = kDefaultShuffleBuffer).
int64_t StreamShuffleBuffer(const config::JobConfig& config);
// Records between index offsets of an uncompressed training file:
// data.shard_records (0 = kDefaultShardRecords).
int64_t StreamIndexEvery(const config::DataConfig& data);
// Records per shard of a streamed job that trains on `used_records`:
// data.shard_records when set, else ceil(used_records / kDefaultShardsPerJob)
// clamped to [1, kDefaultShardRecords], so that a small job still has a shard
// for every rank. A function of the data only, never of the world size: a
// resume on another world size recomputes the shards from it.
int64_t StreamShardRecords(const config::DataConfig& data, int64_t used_records);
// data.reader_threads (0 = kDefaultReaderThreads).
int StreamReaderThreads(const config::DataConfig& data);

// How `split`'s files are read: data.compression, and the damage hint of a
// prepared shard set or of one's own files.
StatusOr<storage::TfRecordReaderOptions> SplitReaderOptions(const config::DataConfig& data,
                                                            DataSplit split);

// The streamed training data as the coordinator plans it.
struct TrainingIndex {
  // seed, shuffle, global_batch, shard_sizes (the records used per file, up to
  // the last used file: an in-memory load's shard sizes), streaming, files,
  // shard_records, shuffle_buffer, train_examples and validation_split.
  coordinator::JobPlan plan;
  std::vector<std::string> warnings;  // uneven prepared shards, as dataset.h's
};

// Indexes the job's training files. Errors: NotFound (no files), the index's
// DataLoss naming file and record, DataLoss for a file without records read
// before data.train_examples is reached (as LoadFiles), and InvalidArgument
// when validation_split leaves either part empty (as SplitForValidation).
StatusOr<TrainingIndex> IndexTrainingData(const config::JobConfig& config);

// This rank's training files for a streaming `plan`: its own SplitFiles
// (paths as this rank names them) with the plan's records and offsets.
// FailedPrecondition when the plan is not a streaming one; when its seed,
// shuffle, global batch or shuffle buffer differ from this rank's config
// (naming the field: the rank would read other streams than the coordinator
// plans, breaking exactly-once); when its train_examples or validation_split
// do (the rank would train on the coordinator's records while its config and
// checkpoint say others); or when it lists another number of files,
// or a file of another base name (naming the first).
StatusOr<StreamFiles> StreamFilesForPlan(const config::JobConfig& config,
                                         const coordinator::JobPlan& plan, int rank);

// training.validation_split's part of a streamed job, in memory: the records
// after the training records of `files` (indexes[f].records) up to
// data.train_examples (0: the files' end), with targets. DataLoss naming the
// file and the record where it ended when the file that holds the cut is now
// shorter than its training records (it shrank since it was indexed).
StatusOr<Dataset> LoadValidationTail(const config::JobConfig& config, const StreamFiles& files);

}  // namespace shardtrain::data
