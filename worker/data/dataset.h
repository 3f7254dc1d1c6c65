// The in-memory training/evaluation data set, loaded from TFRecord shards of
// tf.train.Example (as written by `shardtrain data prepare` or TFDS-style tools).
//
// Contract: LoadSplit reads every `<split>-NNNNN-of-NNNNN.tfrecord` in `dir` in
// shard order (records in file order) and keeps the first `max_examples`
// (0 = all). Every example must have `image` (bytes_list, one value; all images
// the same size) and `label` (int64_list, one value in [0, num_classes)): labels
// are integer class ids, the only kind the loader yields, so the loss must take
// class ids (loss::CheckLossAcceptsClassIds, called by ValidateJobConfig).
// Errors, each naming the file (and record where there is one):
//   NotFound         no shard matches (with the `shardtrain data prepare` hint),
//                    or a shard is missing from the NNNNN-of-NNNNN sequence;
//   DataLoss         CRC mismatch, truncated file, a record that is not an Example;
//   InvalidArgument  missing or ill-typed `image`/`label`, an image whose size
//                    differs from the first, a label outside [0, num_classes),
//                    shards with different NNNNN totals, bad arguments.
// LoadUnlabeledSplit is LoadSplit for prediction: it reads only `image`
// (examples need no `label`; a present one is ignored) and leaves labels empty.
// SplitForValidation is Keras fit's validation_split: the last examples
// become the validation set.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace shardtrain::data {

struct Dataset {  // examples held in memory, row-major
  int64_t num_examples = 0;
  int64_t feature_size = 0;     // 784 for Fashion-MNIST
  std::vector<uint8_t> images;  // num_examples * feature_size raw pixels
  std::vector<int32_t> labels;  // num_examples (empty from LoadUnlabeledSplit)
  // Examples taken from each shard, in shard order (sums to num_examples). The
  // shard planner shuffles shard order and records within shards from these.
  std::vector<int64_t> shard_sizes;
};

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

// The shard files of `split` in `dir`, in shard order, after checking that they
// form one complete NNNNN-of-NNNNN sequence (errors as for LoadSplit).
StatusOr<std::vector<std::string>> ListShards(const std::string& dir, const std::string& split);

}  // namespace shardtrain::data
