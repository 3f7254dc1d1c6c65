// A Keras user's model.fit(x, y) arrays of one split, held in memory in the
// form `shardtrain data prepare` writes as tf.train.Example records: feature
// `x` and label `y`.
//
// Contract:
// - FeaturesFromNpy: uint8 stays raw bytes (one bytes_list value per example,
//   BYTES_UINT8, a quarter of the size of floats); every other dtype becomes
//   float32 values (float64 rounded; bool and integers converted). One
//   example's shape is the array's shape after the first dimension ([1] for a
//   1-D array; a shape such as (n, 0) is InvalidArgument). A NaN/inf value, or a float64 beyond
//   float32's range, is InvalidArgument naming `name` and the row.
// - LabelsFromNpy: bool and integer arrays of shape (n,) or (n, 1) become
//   class ids (CLASS_ID), each in [0, 2^31 - 1); float arrays, and integer
//   arrays of any other shape, become float vectors of row_size values
//   (VECTOR; a 1-D float array is one regression value per example). Errors
//   (InvalidArgument naming `name` and the row): a negative or too large class
//   id, a non-finite value.
// - MakeSplit pairs them: a different number of rows is InvalidArgument naming
//   both sources and both counts; zero rows is InvalidArgument.
// - SplitFromCsv: the table's column `label_column` is the label (CLASS_ID
//   when every value is spelled as an integer, else VECTOR of size 1), the
//   other columns, in order, are the float features. Errors name the file and
//   line: no such column, a duplicated one, no feature columns, a non-finite
//   value, a class id outside [0, 2^31 - 1) (read exactly as an int64, never
//   through a float). The split keeps the header in `csv_header`.
// - CsvColumnsInOrder: a validation CSV's table with its columns reordered by
//   name into the training CSV's order (`header`, read from `reference`), so
//   that each feature lands where training's does; a table with the header
//   already in that order is returned as it is. Errors (InvalidArgument naming
//   both files and the column): a name one header holds more often than the
//   other, e.g. a missing or an extra column (the first in training order,
//   then in the validation file's order), or headers in different orders where
//   a name appears more than once (no unambiguous match).
// - FillExample sets `example`'s features x and y to row `row`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/tf/example.pb.h"
#include "storage/arrays/csv_file.h"
#include "storage/arrays/npy_data.h"

namespace shardtrain::data {

inline constexpr char kArrayFeatureKey[] = "x";
inline constexpr char kArrayLabelKey[] = "y";

struct FeatureArray {
  std::vector<int64_t> shape;  // of one example
  bool raw_uint8 = false;
  std::vector<uint8_t> bytes;  // rows * row_size() values when raw_uint8
  std::vector<float> floats;   // rows * row_size() values otherwise
  int64_t rows = 0;
  int64_t row_size() const;
};

struct LabelArray {
  bool class_ids = false;
  std::vector<int64_t> ids;   // rows values when class_ids
  std::vector<float> values;  // rows * width values otherwise
  int64_t width = 1;          // values per example
  int64_t rows = 0;
};

struct ArraySplit {
  std::string features_source;  // file (or archive:key) names, for messages
  std::string labels_source;
  FeatureArray features;
  LabelArray labels;
  std::vector<std::string> csv_header;  // SplitFromCsv: the file's header
};

StatusOr<FeatureArray> FeaturesFromNpy(const storage::NpyData& array, const std::string& name);
StatusOr<LabelArray> LabelsFromNpy(const storage::NpyData& array, const std::string& name);
StatusOr<ArraySplit> MakeSplit(FeatureArray features, const std::string& features_source,
                               LabelArray labels, const std::string& labels_source);
StatusOr<ArraySplit> SplitFromCsv(const storage::CsvTable& table, const std::string& path,
                                  const std::string& label_column);
StatusOr<storage::CsvTable> CsvColumnsInOrder(storage::CsvTable table, const std::string& path,
                                              const std::vector<std::string>& header,
                                              const std::string& reference);

void FillExample(const ArraySplit& split, int64_t row, tf::Example* example);

}  // namespace shardtrain::data
