// Loads TFRecord shards of tf.train.Example into a Dataset. See dataset.h.
#include "worker/data/dataset.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

constexpr size_t kShardDigits = 5;

std::string PrepareHint(const std::string& dir) {
  return "run `shardtrain data prepare --dataset fashion_mnist --output " + dir + "`";
}

// Parses "<split>-NNNNN-of-NNNNN.tfrecord"; false when `name` is not one.
bool ParseShardName(const std::string& name, const std::string& split, int* index, int* count) {
  const std::string prefix = split + "-";
  const std::string middle = "-of-";
  const std::string suffix = ".tfrecord";
  if (name.size() != prefix.size() + kShardDigits + middle.size() + kShardDigits + suffix.size()) {
    return false;
  }
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t pos = prefix.size();
  auto digits = [&](int* out) {
    int value = 0;
    for (size_t i = 0; i < kShardDigits; ++i) {
      const char c = name[pos + i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    pos += kShardDigits;
    *out = value;
    return true;
  };
  if (!digits(index)) return false;
  if (name.compare(pos, middle.size(), middle) != 0) return false;
  pos += middle.size();
  if (!digits(count)) return false;
  return name.compare(pos, suffix.size(), suffix) == 0;
}

const char* KindName(const tf::Feature& feature) {
  switch (feature.kind_case()) {
    case tf::Feature::kBytesList:
      return "bytes_list";
    case tf::Feature::kFloatList:
      return "float_list";
    case tf::Feature::kInt64List:
      return "int64_list";
    case tf::Feature::KIND_NOT_SET:
      break;
  }
  return "an empty feature";
}

std::string FeatureNames(const tf::Example& example) {
  std::set<std::string> names;
  for (const auto& [name, feature] : example.features().feature()) names.insert(name);
  if (names.empty()) return "none";
  std::string joined;
  for (const std::string& name : names) joined += (joined.empty() ? "'" : ", '") + name + "'";
  return joined;
}

// Asks the kernel to back a large, fresh buffer with transparent huge pages,
// so that filling it faults once per 2 MiB rather than once per 4 KiB page.
// Advisory only; failures are ignored.
void AdviseHugePages(void* data, size_t bytes) {
#if defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

// Names a record in errors ("record 3 of 'path'"); built only on failure.
struct RecordLocation {
  const std::string& path;
  int64_t index;
  std::string str() const { return "record " + std::to_string(index) + " of '" + path + "'"; }
};

// The number of values in `feature`, whatever its kind.
int ValueCount(const tf::Feature& feature) {
  switch (feature.kind_case()) {
    case tf::Feature::kBytesList:
      return feature.bytes_list().value_size();
    case tf::Feature::kFloatList:
      return feature.float_list().value_size();
    case tf::Feature::kInt64List:
      return feature.int64_list().value_size();
    case tf::Feature::KIND_NOT_SET:
      break;
  }
  return 0;
}

// The feature `name` of `example`, which must be of `kind` with one value;
// `expected` says so in errors ("a bytes_list with one value").
StatusOr<const tf::Feature*> SingleValueFeature(const tf::Example& example, const char* name,
                                                tf::Feature::KindCase kind, const char* expected,
                                                const RecordLocation& where) {
  const auto& features = example.features().feature();
  auto found = features.find(name);
  if (found == features.end()) {
    return InvalidArgumentError(where.str() + " has no '" + name +
                                "' feature (features: " + FeatureNames(example) + ")");
  }
  const tf::Feature& feature = found->second;
  if (feature.kind_case() != kind || ValueCount(feature) != 1) {
    return InvalidArgumentError(
        where.str() + ": '" + name + "' must be " + expected + ", found " + KindName(feature) +
        (feature.kind_case() == kind ? " with " + std::to_string(ValueCount(feature)) + " values"
                                     : std::string()));
  }
  return &feature;
}

// The raw pixels of an Example's `image` feature (a bytes_list of one value).
StatusOr<const std::string*> ImagePixels(const tf::Example& example, const RecordLocation& where) {
  ASSIGN_OR_RETURN(const tf::Feature* image,
                   SingleValueFeature(example, "image", tf::Feature::kBytesList,
                                      "a bytes_list with one value (raw uint8 pixels)", where));
  return &image->bytes_list().value(0);
}

// An Example's `label` feature: an int64_list of one value in [0, num_classes).
StatusOr<int64_t> Label(const tf::Example& example, int64_t num_classes,
                        const RecordLocation& where) {
  ASSIGN_OR_RETURN(const tf::Feature* label,
                   SingleValueFeature(example, "label", tf::Feature::kInt64List,
                                      "an int64_list with one value", where));
  const int64_t value = label->int64_list().value(0);
  if (value < 0 || value >= num_classes) {
    return InvalidArgumentError(where.str() + " has label " + std::to_string(value) +
                                ", outside [0, " + std::to_string(num_classes) +
                                ") for a model with " + std::to_string(num_classes) +
                                " classes; labels are class ids: set data.num_classes to the "
                                "number of classes, or fix the record");
  }
  return value;
}

// Appends examples to a Dataset. The first example fixes the image size and
// reserves room for every example the shards can hold.
class DatasetBuilder {
 public:
  // `total_bytes`: the shards' combined size; `limit`: the most examples kept.
  DatasetBuilder(uint64_t total_bytes, int64_t limit) : total_bytes_(total_bytes), limit_(limit) {}

  bool full() const { return dataset_.num_examples >= limit_; }
  int64_t num_examples() const { return dataset_.num_examples; }
  void EndShard(int64_t shard_start) {
    dataset_.shard_sizes.push_back(dataset_.num_examples - shard_start);
  }
  Dataset Finish() && { return std::move(dataset_); }

  // `record_bytes`: the size of the record holding the example; `label`:
  // none when the split is loaded without labels.
  Status Append(const std::string& pixels, std::optional<int64_t> label, size_t record_bytes,
                const RecordLocation& where) {
    const int64_t size = static_cast<int64_t>(pixels.size());
    if (dataset_.num_examples == 0) {
      if (size == 0) return InvalidArgumentError(where.str() + " has an empty 'image'");
      dataset_.feature_size = size;
      // Each record holds its image, so the shards' size bounds the pixel bytes.
      const uint64_t estimate =
          std::min<uint64_t>(total_bytes_ / (record_bytes + 16) + 1,
                             static_cast<uint64_t>(std::min<int64_t>(limit_, INT64_MAX / size)));
      dataset_.images.reserve(estimate * static_cast<uint64_t>(size));
      AdviseHugePages(dataset_.images.data(), dataset_.images.capacity());
      dataset_.labels.reserve(estimate);
    } else if (size != dataset_.feature_size) {
      return InvalidArgumentError(where.str() + " has an image of " + std::to_string(size) +
                                  " bytes, but the first image has " +
                                  std::to_string(dataset_.feature_size) +
                                  "; all images must have the same size");
    }
    dataset_.images.insert(dataset_.images.end(), pixels.begin(), pixels.end());
    if (label) dataset_.labels.push_back(static_cast<int32_t>(*label));
    ++dataset_.num_examples;
    return OkStatus();
  }

 private:
  Dataset dataset_;
  uint64_t total_bytes_;
  int64_t limit_;
};

// The combined size of `paths`, skipping files whose size cannot be read.
uint64_t TotalBytes(const std::vector<std::string>& paths) {
  uint64_t total_bytes = 0;
  for (const std::string& path : paths) {
    std::error_code error;
    const uintmax_t size = fs::file_size(path, error);
    if (!error) total_bytes += size;
  }
  return total_bytes;
}

// Reads the shard at `path` into `builder` until the shard ends or the builder
// is full; with no `num_classes` the `label` feature is not read.
Status LoadShard(const std::string& path, const storage::TfRecordReaderOptions& options,
                 std::optional<int64_t> num_classes, DatasetBuilder* builder) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::TfRecordReader> reader,
                   storage::TfRecordReader::Open(path, options));
  const int64_t shard_start = builder->num_examples();
  tf::Example example;  // reused: keeps its allocations across records
  std::string_view record;
  while (!builder->full()) {
    ASSIGN_OR_RETURN(const bool more, reader->NextView(&record));
    if (!more) break;
    const RecordLocation where{path, reader->records_read() - 1};
    if (!example.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
      return DataLossError(where.str() + " is not a valid tf.train.Example (" +
                           std::to_string(record.size()) + " bytes); " + options.damage_hint);
    }
    ASSIGN_OR_RETURN(const std::string* pixels, ImagePixels(example, where));
    std::optional<int64_t> label;
    if (num_classes) {
      ASSIGN_OR_RETURN(label, Label(example, *num_classes, where));
    }
    RETURN_IF_ERROR(builder->Append(*pixels, label, record.size(), where));
  }
  builder->EndShard(shard_start);
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<std::string>> ListShards(const std::string& dir, const std::string& split) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return NotFoundError("data directory '" + dir + "' does not exist (or is not a directory); " +
                         PrepareHint(dir));
  }
  std::map<int, std::string> shards;  // index -> file name
  std::set<int> counts;
  fs::directory_iterator it(dir, error);
  if (error) return ErrnoToStatus(error.value(), "list directory", dir);
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) return ErrnoToStatus(error.value(), "list directory", dir);
    const std::string name = it->path().filename().string();
    int index = 0;
    int count = 0;
    if (!ParseShardName(name, split, &index, &count)) continue;
    shards[index] = name;
    counts.insert(count);
  }
  if (error) return ErrnoToStatus(error.value(), "list directory", dir);
  if (shards.empty()) {
    return NotFoundError("no '" + split + "-NNNNN-of-NNNNN.tfrecord' shards in '" + dir + "'; " +
                         PrepareHint(dir));
  }
  if (counts.size() > 1) {
    return InvalidArgumentError("'" + dir + "' mixes shard sets of " + split + " with " +
                                std::to_string(*counts.begin()) + " and " +
                                std::to_string(*counts.rbegin()) +
                                " shards; remove the stale files or re-create the directory");
  }
  const int count = *counts.begin();
  std::vector<std::string> paths;
  for (int index = 0; index < count; ++index) {
    auto found = shards.find(index);
    if (found == shards.end()) {
      return NotFoundError("the " + split + " shard set in '" + dir + "' is incomplete: '" +
                           ShardFileName(split, index, count) + "' is missing (found " +
                           std::to_string(shards.size()) + " of " + std::to_string(count) +
                           " shards); " + PrepareHint(dir));
    }
    paths.push_back((fs::path(dir) / found->second).string());
  }
  if (static_cast<int>(shards.size()) > count) {
    return InvalidArgumentError("'" + dir + "' holds " + split + " shard '" +
                                shards.rbegin()->second + "' whose index is not below its count " +
                                std::to_string(count));
  }
  return paths;
}

namespace {

// Loads the first `max_examples` (0 = all) of `split`, with labels when
// `num_classes` is given.
StatusOr<Dataset> LoadExamples(const std::string& dir, const std::string& split,
                               int64_t max_examples, std::optional<int64_t> num_classes) {
  if (max_examples < 0) {
    return InvalidArgumentError("max_examples must be >= 0 (0 = all), got " +
                                std::to_string(max_examples));
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, ListShards(dir, split));
  storage::TfRecordReaderOptions options;
  // 1 MiB reads: large enough that syscalls are negligible, small enough that the
  // buffer stays in cache and does not page-fault a shard-sized allocation.
  options.buffer_size = size_t{1} << 20;
  options.damage_hint = "the file is damaged — re-create it with `shardtrain data prepare`";
  DatasetBuilder builder(TotalBytes(paths), max_examples == 0 ? INT64_MAX : max_examples);
  for (const std::string& path : paths) {
    if (builder.full()) break;
    RETURN_IF_ERROR(LoadShard(path, options, num_classes, &builder));
  }
  return std::move(builder).Finish();
}

}  // namespace

StatusOr<Dataset> LoadSplit(const std::string& dir, const std::string& split, int64_t max_examples,
                            int64_t num_classes) {
  if (num_classes <= 0) {
    return InvalidArgumentError("num_classes must be positive, got " + std::to_string(num_classes));
  }
  return LoadExamples(dir, split, max_examples, num_classes);
}

StatusOr<Dataset> LoadUnlabeledSplit(const std::string& dir, const std::string& split,
                                     int64_t max_examples) {
  return LoadExamples(dir, split, max_examples, std::nullopt);
}

StatusOr<std::pair<Dataset, Dataset>> SplitForValidation(Dataset dataset,
                                                        double validation_split) {
  const int64_t n = dataset.num_examples;
  const auto split_at = static_cast<int64_t>(
      std::floor(static_cast<double>(n) * (1.0 - validation_split)));
  if (split_at <= 0 || split_at >= n) {
    return InvalidArgumentError(
        "training data contains " + std::to_string(n) +
        " examples, which is not sufficient to split it into a validation and training set as "
        "specified by training.validation_split = " + std::to_string(validation_split) +
        "; use more examples (data.train_examples) or another validation_split");
  }
  const size_t features = static_cast<size_t>(dataset.feature_size);
  const size_t cut = static_cast<size_t>(split_at);
  Dataset val;
  val.num_examples = n - split_at;
  val.feature_size = dataset.feature_size;
  val.images.assign(dataset.images.begin() + static_cast<std::ptrdiff_t>(cut * features),
                    dataset.images.end());
  val.labels.assign(dataset.labels.begin() + static_cast<std::ptrdiff_t>(cut),
                    dataset.labels.end());
  val.shard_sizes = {val.num_examples};

  Dataset& train = dataset;
  train.num_examples = split_at;
  train.images.resize(cut * features);
  train.labels.resize(cut);
  std::vector<int64_t> sizes;
  int64_t remaining = split_at;
  for (int64_t size : train.shard_sizes) {
    if (remaining == 0) break;
    sizes.push_back(std::min(size, remaining));
    remaining -= sizes.back();
  }
  train.shard_sizes = std::move(sizes);
  return std::make_pair(std::move(train), std::move(val));
}

}  // namespace shardtrain::data
