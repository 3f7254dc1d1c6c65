// `shardtrain data prepare --features/--npz/--csv`: converts a Keras user's
// model.fit(x, y) data (a pair of .npy files, two arrays of an .npz archive,
// or a CSV file with a header row) into TFRecord shards of tf.train.Example
// and writes the matching feature spec as a job-config fragment.
//
// Contract: PrepareArrays reads the training split (and the validation split
// when given), converts each as array_examples.h says (feature `x`, label
// `y`; a validation CSV's columns are matched to the training CSV's by name,
// in any order), checks that both splits agree (feature shape and type, label
// kind and width) and writes, into output_dir (created if missing),
// train-{i:05d}-of-{N:05d}.tfrecord (and test-... for validation data) as
// record_shards.h does, then data_spec.textproto (data_spec_fragment.h; dir
// made absolute; num_classes = the largest class id of both splits + 1).
// num_shards 0 means min(4, examples) per split; `scale` only goes into the
// fragment (the shards hold the values as given). Output is deterministic.
// Errors name the files (and rows or lines): NotFound for a missing input,
// InvalidArgument for unusable arrays, a row-count mismatch between x and y,
// splits that disagree, or more shards than examples; DataLoss for damaged
// files; I/O errors name the output path. Progress lines and the fragment go
// to `log` when it is not null.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "common/status.h"
#include "worker/data/array_examples.h"

namespace shardtrain::data {

enum class ArrayFormat { kNpy, kNpz, kCsv };

// One split's inputs: kNpy: the features and labels .npy paths; kNpz: the two
// array names in the archive; kCsv: the CSV path in `features` (labels unused).
struct ArraySplitSource {
  std::string features;
  std::string labels;
};

struct PrepareArraysOptions {
  ArrayFormat format = ArrayFormat::kNpy;
  std::string npz_path;      // kNpz: the archive
  std::string label_column;  // kCsv: the header name of the label column
  ArraySplitSource train;
  std::optional<ArraySplitSource> validation;
  std::string output_dir;
  int num_shards = 0;          // per split; 0: min(4, examples)
  std::optional<float> scale;  // written as the fragment's features scale
};

inline constexpr char kDataSpecFileName[] = "data_spec.textproto";

// Reads and converts one split's inputs. With `training` (the training split,
// when `source` is the validation split's), a CSV's columns are matched by
// name to the training CSV's header and reordered to its order
// (CsvColumnsInOrder in array_examples.h).
StatusOr<ArraySplit> LoadArraySplit(const PrepareArraysOptions& options,
                                    const ArraySplitSource& source,
                                    const ArraySplit* training = nullptr);

Status PrepareArrays(const PrepareArraysOptions& options, std::ostream* log);

}  // namespace shardtrain::data
