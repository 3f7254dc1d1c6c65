// NumPy/CSV arrays -> the x/y columns of tf.train.Example. See array_examples.h.
#include "worker/data/array_examples.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <unordered_map>

namespace shardtrain::data {
namespace {

constexpr int64_t kMaxClassId = std::numeric_limits<int32_t>::max() - 1;

std::string RowText(int64_t index, int64_t row_size) {
  return "row " + std::to_string(row_size > 0 ? index / row_size : 0) + " (0-based)";
}

// "1e+300", "nan", "-3".
std::string NumberText(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.9g", value);
  return text;
}

// `value` as a float32; InvalidArgument naming `where` when it is NaN, inf, or
// beyond float32's range.
StatusOr<float> FiniteFloat(double value, const std::string& where) {
  if (!std::isfinite(value) || std::fabs(value) > std::numeric_limits<float>::max()) {
    return InvalidArgumentError(where + " holds " + NumberText(value) +
                                ", which is not a finite float32; fix or drop that row");
  }
  return static_cast<float>(value);
}

StatusOr<std::vector<float>> FloatValues(const storage::NpyData& array, const std::string& name) {
  const int64_t count = array.rows() * array.row_size();
  std::vector<float> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    if (array.is_integer()) {
      values[static_cast<size_t>(i)] = static_cast<float>(array.ValueAsInt64(i));
      continue;
    }
    ASSIGN_OR_RETURN(
        values[static_cast<size_t>(i)],
        FiniteFloat(array.ValueAsDouble(i), name + ": " + RowText(i, array.row_size())));
  }
  return values;
}

// InvalidArgument unless `id` can be a class id; `where` names its place and
// `shown` is the id as the message spells it.
Status CheckClassId(int64_t id, const std::string& where, const std::string& shown) {
  if (id < 0) {
    return InvalidArgumentError(where + " holds class id " + shown +
                                "; class ids must be >= 0 (store the labels as floats to train "
                                "on them as regression targets)");
  }
  if (id > kMaxClassId) {
    return InvalidArgumentError(where + " holds class id " + shown +
                                ", more than the largest supported " + std::to_string(kMaxClassId));
  }
  return OkStatus();
}

Status NoValuesError(const storage::NpyData& array, const std::string& name) {
  return InvalidArgumentError(name + ": shape " + storage::NpyShapeString(array.shape) +
                              " holds no values per example");
}

// The index of column `name` in `table`'s header.
StatusOr<size_t> LabelColumnIndex(const storage::CsvTable& table, const std::string& path,
                                  const std::string& name) {
  std::string columns;
  size_t found = table.header.size(), matches = 0;
  for (size_t i = 0; i < table.header.size(); ++i) {
    columns += (i ? ", " : "") + table.header[i];
    if (table.header[i] == name) found = i, ++matches;
  }
  if (matches == 0) {
    return InvalidArgumentError(path + ":1: no column '" + name +
                                "' in the header (columns: " + columns + ")");
  }
  if (matches > 1) return InvalidArgumentError(path + ":1: column '" + name + "' appears twice");
  if (table.cols < 2) {
    return InvalidArgumentError(path + ":1: no feature columns besides the label '" + name + "'");
  }
  return found;
}

// For each name of `header` (the training file `reference`'s), the column of
// `table` (read from `path`) with that name. Errors as CsvColumnsInOrder says.
StatusOr<std::vector<size_t>> ColumnOrder(const storage::CsvTable& table, const std::string& path,
                                          const std::vector<std::string>& header,
                                          const std::string& reference) {
  const std::string training = "the training CSV " + reference;
  const std::string fix = "; give the validation CSV the training CSV's column names";
  std::unordered_map<std::string, std::vector<size_t>> columns;  // name -> columns, last first
  for (size_t col = table.header.size(); col-- > 0;) columns[table.header[col]].push_back(col);
  std::vector<size_t> order;
  std::vector<bool> used(table.header.size(), false);
  std::string repeated;  // a name of more than one column
  for (const std::string& name : header) {
    std::vector<size_t>& left = columns[name];
    if (left.empty()) {
      const bool fewer =
          std::find(table.header.begin(), table.header.end(), name) != table.header.end();
      return InvalidArgumentError(path + ":1: the validation CSV " +
                                  (fewer ? "has column '" + name + "' fewer times than "
                                         : "lacks column '" + name + "' of ") +
                                  training + fix);
    }
    if (left.size() > 1 && repeated.empty()) repeated = name;
    order.push_back(left.back());
    used[left.back()] = true;
    left.pop_back();
  }
  for (size_t col = 0; col < table.header.size(); ++col) {
    if (used[col]) continue;
    const std::string& name = table.header[col];
    const bool more = std::find(header.begin(), header.end(), name) != header.end();
    return InvalidArgumentError(
        path + ":1: the validation CSV has column '" + name + "'" +
        (more ? " more times than " + training : ", which " + training + " lacks") + fix);
  }
  if (!repeated.empty()) {
    return InvalidArgumentError(path + ":1: column '" + repeated +
                                "' appears more than once, so the columns cannot be matched to " +
                                training + " by name; list them in the training CSV's order");
  }
  return order;
}

}  // namespace

int64_t FeatureArray::row_size() const {
  int64_t size = 1;
  for (int64_t dim : shape) size *= dim;
  return size;
}

StatusOr<FeatureArray> FeaturesFromNpy(const storage::NpyData& array, const std::string& name) {
  if (array.row_size() == 0) return NoValuesError(array, name);
  FeatureArray features;
  features.rows = array.rows();
  features.shape.assign(array.shape.begin() + 1, array.shape.end());
  if (features.shape.empty()) features.shape = {1};
  if (array.dtype == storage::NpyData::DType::kUint8) {
    features.raw_uint8 = true;
    features.bytes.assign(array.data.begin(), array.data.end());
    return features;
  }
  ASSIGN_OR_RETURN(features.floats, FloatValues(array, name));
  return features;
}

StatusOr<LabelArray> LabelsFromNpy(const storage::NpyData& array, const std::string& name) {
  if (array.row_size() == 0) return NoValuesError(array, name);
  LabelArray labels;
  labels.rows = array.rows();
  labels.width = array.row_size();
  labels.class_ids = array.is_integer() && labels.width == 1 && array.shape.size() <= 2;
  if (!labels.class_ids) {
    ASSIGN_OR_RETURN(labels.values, FloatValues(array, name));
    return labels;
  }
  labels.ids.resize(static_cast<size_t>(labels.rows));
  for (int64_t i = 0; i < labels.rows; ++i) {
    labels.ids[static_cast<size_t>(i)] = array.ValueAsInt64(i);
    const int64_t id = labels.ids[static_cast<size_t>(i)];
    RETURN_IF_ERROR(CheckClassId(id, name + ": " + RowText(i, 1), std::to_string(id)));
  }
  return labels;
}

StatusOr<ArraySplit> MakeSplit(FeatureArray features, const std::string& features_source,
                               LabelArray labels, const std::string& labels_source) {
  if (features.rows != labels.rows) {
    return InvalidArgumentError("row count mismatch: " + features_source + " holds " +
                                std::to_string(features.rows) + " examples but " + labels_source +
                                " holds " + std::to_string(labels.rows) + " labels");
  }
  if (features.rows == 0) return InvalidArgumentError(features_source + " holds no examples");
  ArraySplit split;
  split.features_source = features_source;
  split.labels_source = labels_source;
  split.features = std::move(features);
  split.labels = std::move(labels);
  return split;
}

StatusOr<ArraySplit> SplitFromCsv(const storage::CsvTable& table, const std::string& path,
                                  const std::string& label_column) {
  ASSIGN_OR_RETURN(const size_t label, LabelColumnIndex(table, path, label_column));
  FeatureArray features;
  LabelArray labels;
  features.rows = labels.rows = table.rows;
  features.shape = {table.cols - 1};
  labels.class_ids = table.integer_columns[label];
  const size_t cols = static_cast<size_t>(table.cols);
  for (size_t row = 0; row < static_cast<size_t>(table.rows); ++row) {
    const std::string where = path + ":" + std::to_string(table.line_numbers[row]);
    for (size_t col = 0; col < cols; ++col) {
      const size_t index = row * cols + col;
      const float value = table.values[index];
      const std::string field = where + ": column '" + table.header[col] + "'";
      if (!std::isfinite(value)) return FiniteFloat(value, field).status();
      if (col != label) {
        features.floats.push_back(value);
      } else if (labels.class_ids) {
        // The exact integer: a float32 would round ids above 2^24. One beyond
        // int64 is saturated there, so the message shows the float instead.
        const int64_t id = table.integers[index];
        const bool saturated =
            id == std::numeric_limits<int64_t>::max() || id == std::numeric_limits<int64_t>::min();
        RETURN_IF_ERROR(
            CheckClassId(id, field, saturated ? NumberText(value) : std::to_string(id)));
        labels.ids.push_back(id);
      } else {
        labels.values.push_back(value);
      }
    }
  }
  ASSIGN_OR_RETURN(ArraySplit split, MakeSplit(std::move(features), path, std::move(labels), path));
  split.csv_header = table.header;
  return split;
}

StatusOr<storage::CsvTable> CsvColumnsInOrder(storage::CsvTable table, const std::string& path,
                                              const std::vector<std::string>& header,
                                              const std::string& reference) {
  if (table.header == header) return table;
  ASSIGN_OR_RETURN(const std::vector<size_t> order, ColumnOrder(table, path, header, reference));
  storage::CsvTable sorted = table;
  const size_t cols = order.size();
  for (size_t col = 0; col < cols; ++col) {
    sorted.header[col] = table.header[order[col]];
    sorted.integer_columns[col] = table.integer_columns[order[col]];
    for (size_t row = 0; row < static_cast<size_t>(table.rows); ++row) {
      sorted.values[row * cols + col] = table.values[row * cols + order[col]];
      sorted.integers[row * cols + col] = table.integers[row * cols + order[col]];
    }
  }
  return sorted;
}

void FillExample(const ArraySplit& split, int64_t row, tf::Example* example) {
  auto& features = *example->mutable_features()->mutable_feature();
  const FeatureArray& x = split.features;
  const size_t x_begin = static_cast<size_t>(row * x.row_size());
  const size_t x_size = static_cast<size_t>(x.row_size());
  tf::Feature& x_feature = features[kArrayFeatureKey];
  if (x.raw_uint8) {
    auto* values = x_feature.mutable_bytes_list()->mutable_value();
    if (values->empty()) values->Add();
    values->Mutable(0)->assign(reinterpret_cast<const char*>(x.bytes.data() + x_begin), x_size);
  } else {
    x_feature.mutable_float_list()->mutable_value()->Assign(x.floats.begin() + x_begin,
                                                            x.floats.begin() + x_begin + x_size);
  }
  const LabelArray& y = split.labels;
  tf::Feature& y_feature = features[kArrayLabelKey];
  if (y.class_ids) {
    auto* values = y_feature.mutable_int64_list()->mutable_value();
    values->Clear();
    values->Add(y.ids[static_cast<size_t>(row)]);
  } else {
    const auto begin = y.values.begin() + row * y.width;
    y_feature.mutable_float_list()->mutable_value()->Assign(begin, begin + y.width);
  }
}

}  // namespace shardtrain::data
