// The in-memory training/evaluation data set, decoded from TFRecord files of
// tf.train.Example by an ExampleDecoder (the job's feature spec).
//
// Contract: LoadFiles reads `paths` in order (records in file order), decodes
// each record with the decoder and keeps the first `max_examples` (0 = all).
// Features are stored as the floats the decoder makes (value * scale +
// offset), so the trainer copies rows without converting them: 4 bytes per
// value, 4x the memory of raw uint8 pixels (Fashion-MNIST's 60,000 training
// images take 188 MB instead of 47 MB). Errors, each naming the file:
//   a decoder error (DataLoss, InvalidArgument: example_decoder.h), prefixed
//                    "FILE, record N: ";
//   DataLoss         a bad CRC or truncated record (the TFRecord reader), or a
//                    file that holds no record (an emptied shard);
//   InvalidArgument  bad arguments.
// For a prepared shard set (LoadOptions::prepared_shards: ListShards'
// NNNNN-of-NNNNN files, which prepare writes with i*n/N records each, so
// siblings differ by at most one), a shard holding more than one record fewer
// than the largest shard read in full is not an error: the Dataset carries a
// warning line naming it, for the caller to print. A user's own files may
// differ in size freely and get no warning.
// LoadSplit reads the `dir` layout `shardtrain data prepare` writes (every
// `<split>-NNNNN-of-NNNNN.tfrecord`, file_list.h's ListShards) with the
// default spec (`image` uint8 pixels / 255, `label` class id in
// [0, num_classes)); the image size is taken from the first record, since no
// model shape is given. LoadUnlabeledSplit is LoadSplit without labels
// (prediction: a present `label` is ignored).
// SplitForValidation is Keras fit's validation_split: the last examples
// become the validation set.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"
#include "worker/data/example_decoder.h"
#include "worker/data/file_list.h"
#include "worker/loss/targets.h"

namespace shardtrain::data {

struct Dataset {  // examples held in memory, row-major
  int64_t num_examples = 0;
  int64_t feature_size = 0;     // model input values per example (784 for Fashion-MNIST)
  std::vector<float> features;  // num_examples * feature_size, as decoded (pixels / 255)
  // The targets: 0 = class ids in `labels`; else values per example in
  // `label_values` (num_examples * label_width). Both empty when loaded
  // without labels.
  int64_t label_width = 0;
  std::vector<int32_t> labels;
  std::vector<float> label_values;
  // Examples taken from each shard, in shard order (sums to num_examples). The
  // shard planner shuffles shard order and records within shards from these.
  std::vector<int64_t> shard_sizes;
  // Findings that are not errors (an uneven shard), one line each, for the
  // caller to print.
  std::vector<std::string> warnings;
};

// The targets of rows `first_row` on: class ids (`label_width` 0) or
// `label_width` floats per row. Reads a Dataset's labels and the trainer's
// gathered batch alike; the view is valid while the vectors are unchanged.
loss::Targets TargetRows(int64_t label_width, const std::vector<int32_t>& class_ids,
                         const std::vector<float>& label_values, int64_t first_row);

// `dataset`'s targets from example `first_row` on.
inline loss::Targets TargetsOf(const Dataset& dataset, int64_t first_row) {
  return TargetRows(dataset.label_width, dataset.labels, dataset.label_values, first_row);
}

struct LoadOptions {
  config::Compression compression = config::NONE;  // of every file
  int64_t max_examples = 0;                        // keep the first N (0 = all)
  bool labels = true;                              // false: decode no target
  // The files are a `shardtrain data prepare` shard set (ListShards): uneven
  // shards get a warning, and corruption messages say to re-create it with
  // `shardtrain data prepare` instead of from its source.
  bool prepared_shards = false;
};

// Warnings for the prepared shards `paths` whose first `full_shards` were
// read to their end, holding sizes[i] records: a shard more than one record
// short of the largest (`shardtrain data prepare` writes shards that differ by
// at most one) was probably cut short. One line per such shard.
std::vector<std::string> UnevenShardWarnings(const std::vector<std::string>& paths,
                                             const std::vector<int64_t>& sizes, size_t full_shards);

StatusOr<Dataset> LoadFiles(const std::vector<std::string>& paths, const ExampleDecoder& decoder,
                            const LoadOptions& options);

StatusOr<Dataset> LoadSplit(const std::string& dir, const std::string& split, int64_t max_examples,
                            int64_t num_classes);

StatusOr<Dataset> LoadUnlabeledSplit(const std::string& dir, const std::string& split,
                                     int64_t max_examples);

// Keras fit's validation_split (keras.src.trainers.data_adapters.
// data_adapter_utils.train_validation_split): the first
// floor(n * (1 - validation_split)) examples of `dataset` train, the rest
// validate, in order (deterministic, before any shuffling). The training
// part's shard_sizes are cut at the split (shards past it dropped); the
// validation part is one shard. InvalidArgument, as Keras, when either part
// would be empty.
StatusOr<std::pair<Dataset, Dataset>> SplitForValidation(Dataset dataset, double validation_split);

}  // namespace shardtrain::data
