// Loads TFRecord shards of tf.train.Example into a Dataset. See dataset.h.
#include "worker/data/dataset.h"

#include <sys/mman.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
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

// Asks the kernel to back a large, fresh buffer with transparent huge pages:
// filling 47 MB of 4 KiB pages costs ~12k page faults, most of a load's time.
// Advisory only; failures are ignored.
void AdviseHugePages(void* data, size_t bytes) {
#if defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
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

StatusOr<Dataset> LoadSplit(const std::string& dir, const std::string& split, int64_t max_examples,
                            int64_t num_classes) {
  if (max_examples < 0) {
    return InvalidArgumentError("max_examples must be >= 0 (0 = all), got " +
                                std::to_string(max_examples));
  }
  if (num_classes <= 0) {
    return InvalidArgumentError("num_classes must be positive, got " + std::to_string(num_classes));
  }
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, ListShards(dir, split));
  uint64_t total_bytes = 0;
  for (const std::string& path : paths) {
    std::error_code error;
    const uintmax_t size = fs::file_size(path, error);
    if (!error) total_bytes += size;
  }

  storage::TfRecordReaderOptions options;
  // 1 MiB reads: large enough that syscalls are negligible, small enough that the
  // buffer stays in cache and does not page-fault a shard-sized allocation.
  options.buffer_size = size_t{1} << 20;
  options.damage_hint = "the file is damaged — re-create it with `shardtrain data prepare`";

  Dataset dataset;
  tf::Example example;  // reused: keeps its allocations across records
  const int64_t limit = max_examples == 0 ? INT64_MAX : max_examples;
  for (const std::string& path : paths) {
    if (dataset.num_examples >= limit) break;
    ASSIGN_OR_RETURN(std::unique_ptr<storage::TfRecordReader> reader,
                     storage::TfRecordReader::Open(path, options));
    const int64_t shard_start = dataset.num_examples;
    std::string_view record;
    while (dataset.num_examples < limit) {
      ASSIGN_OR_RETURN(const bool more, reader->NextView(&record));
      if (!more) break;
      const int64_t record_index = reader->records_read() - 1;
      auto where = [&] { return "record " + std::to_string(record_index) + " of '" + path + "'"; };
      if (!example.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
        return DataLossError(where() + " is not a valid tf.train.Example (" +
                             std::to_string(record.size()) + " bytes); " + options.damage_hint);
      }
      const auto& features = example.features().feature();

      auto image_it = features.find("image");
      if (image_it == features.end()) {
        return InvalidArgumentError(
            where() + " has no 'image' feature (features: " + FeatureNames(example) + ")");
      }
      const tf::Feature& image = image_it->second;
      if (image.kind_case() != tf::Feature::kBytesList || image.bytes_list().value_size() != 1) {
        return InvalidArgumentError(
            where() + ": 'image' must be a bytes_list with one value (raw uint8 pixels), found " +
            KindName(image) +
            (image.kind_case() == tf::Feature::kBytesList
                 ? " with " + std::to_string(image.bytes_list().value_size()) + " values"
                 : std::string()));
      }
      const std::string& pixels = image.bytes_list().value(0);

      auto label_it = features.find("label");
      if (label_it == features.end()) {
        return InvalidArgumentError(
            where() + " has no 'label' feature (features: " + FeatureNames(example) + ")");
      }
      const tf::Feature& label = label_it->second;
      if (label.kind_case() != tf::Feature::kInt64List || label.int64_list().value_size() != 1) {
        return InvalidArgumentError(
            where() + ": 'label' must be an int64_list with one value, found " + KindName(label) +
            (label.kind_case() == tf::Feature::kInt64List
                 ? " with " + std::to_string(label.int64_list().value_size()) + " values"
                 : std::string()));
      }
      const int64_t label_value = label.int64_list().value(0);
      if (label_value < 0 || label_value >= num_classes) {
        return InvalidArgumentError(where() + " has label " + std::to_string(label_value) +
                                    ", outside [0, " + std::to_string(num_classes) +
                                    ") for a model with " + std::to_string(num_classes) +
                                    " classes");
      }

      const int64_t size = static_cast<int64_t>(pixels.size());
      if (dataset.num_examples == 0) {
        if (size == 0) return InvalidArgumentError(where() + " has an empty 'image'");
        dataset.feature_size = size;
        // Each record holds its image, so the shards' size bounds the pixel bytes.
        const uint64_t estimate =
            std::min<uint64_t>(total_bytes / (record.size() + 16) + 1,
                               static_cast<uint64_t>(std::min<int64_t>(limit, INT64_MAX / size)));
        dataset.images.reserve(estimate * static_cast<uint64_t>(size));
        AdviseHugePages(dataset.images.data(), dataset.images.capacity());
        dataset.labels.reserve(estimate);
      } else if (size != dataset.feature_size) {
        return InvalidArgumentError(where() + " has an image of " + std::to_string(size) +
                                    " bytes, but the first image has " +
                                    std::to_string(dataset.feature_size) +
                                    "; all images must have the same size");
      }
      dataset.images.insert(dataset.images.end(), pixels.begin(), pixels.end());
      dataset.labels.push_back(static_cast<int32_t>(label_value));
      ++dataset.num_examples;
    }
    dataset.shard_sizes.push_back(dataset.num_examples - shard_start);
  }
  return dataset;
}

}  // namespace shardtrain::data
