// Decodes TFRecord files of tf.train.Example into a Dataset. See dataset.h.
#include "worker/data/dataset.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/compression.h"
#include "storage/tfrecord/tfrecord.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

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

// Appends decoded examples to a Dataset. The first example reserves room for
// every example the files can hold, estimated from its record's size.
class DatasetBuilder {
 public:
  // `total_bytes`: the files' combined size; `limit`: the most examples kept.
  DatasetBuilder(const ExampleDecoder& decoder, bool labels, uint64_t total_bytes, int64_t limit)
      : decoder_(decoder), labels_(labels), total_bytes_(total_bytes), limit_(limit) {
    dataset_.feature_size = decoder.feature_size();
    dataset_.label_width = labels ? decoder.label_width() : 0;
  }

  bool full() const { return dataset_.num_examples >= limit_; }
  int64_t num_examples() const { return dataset_.num_examples; }
  void EndShard(int64_t shard_start) {
    dataset_.shard_sizes.push_back(dataset_.num_examples - shard_start);
  }
  Dataset& dataset() { return dataset_; }

  // Decodes `record` (the next example) into the dataset.
  Status Append(std::string_view record) {
    if (dataset_.num_examples == 0) Reserve(record.size());
    const size_t n = static_cast<size_t>(dataset_.num_examples);
    const size_t features = static_cast<size_t>(dataset_.feature_size);
    const size_t width = static_cast<size_t>(dataset_.label_width);
    dataset_.features.resize((n + 1) * features);
    int32_t* class_id = nullptr;
    float* values = nullptr;
    if (labels_ && width == 0) {
      dataset_.labels.push_back(0);
      class_id = &dataset_.labels.back();
    } else if (labels_) {
      dataset_.label_values.resize((n + 1) * width);
      values = dataset_.label_values.data() + n * width;
    }
    RETURN_IF_ERROR(
        decoder_.Decode(record, dataset_.features.data() + n * features, class_id, values));
    ++dataset_.num_examples;
    return OkStatus();
  }

 private:
  void Reserve(size_t record_bytes) {
    // Each record holds its example, so the files' size bounds the count.
    const uint64_t estimate =
        std::min<uint64_t>(total_bytes_ / (record_bytes + 16) + 1, static_cast<uint64_t>(limit_));
    const uint64_t features = static_cast<uint64_t>(dataset_.feature_size);
    if (features > 0 && estimate <= (uint64_t{1} << 40) / features) {
      dataset_.features.reserve(estimate * features);
      AdviseHugePages(dataset_.features.data(), dataset_.features.capacity() * sizeof(float));
    }
    if (labels_ && dataset_.label_width == 0) dataset_.labels.reserve(estimate);
  }

  Dataset dataset_;
  const ExampleDecoder& decoder_;
  bool labels_;
  uint64_t total_bytes_;
  int64_t limit_;
};

StatusOr<storage::TfRecordReaderOptions> ReaderOptions(const LoadOptions& options) {
  storage::TfRecordReaderOptions reader;
  // 1 MiB reads: large enough that syscalls are negligible, small enough that the
  // buffer stays in cache and does not page-fault a shard-sized allocation.
  reader.buffer_size = size_t{1} << 20;
  reader.damage_hint = options.prepared_shards
                           ? "the file is damaged — re-create it with `shardtrain data prepare`"
                           : "the file is damaged; re-create it from its source";
  ASSIGN_OR_RETURN(reader.compression, storage::TfRecordCompressionFromConfig(options.compression));
  return reader;
}

// Reads the file at `path` into `builder` until it ends or the builder is
// full. A file without any record is an error.
Status LoadFile(const std::string& path, const storage::TfRecordReaderOptions& options,
                DatasetBuilder* builder) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::TfRecordReader> reader,
                   storage::TfRecordReader::Open(path, options));
  const int64_t shard_start = builder->num_examples();
  std::string_view record;
  while (!builder->full()) {
    ASSIGN_OR_RETURN(const bool more, reader->NextView(&record));
    if (!more) break;
    RETURN_IF_ERROR(builder->Append(record).WithContext(
        path + ", record " + std::to_string(reader->records_read() - 1)));
  }
  if (reader->records_read() == 0) {
    return DataLossError(path + " holds no record: an empty shard (" + options.damage_hint + ")");
  }
  builder->EndShard(shard_start);
  return OkStatus();
}

}  // namespace

// Warnings for the prepared shards of `paths` read in full (`full_shards` of
// them) that hold more than one record fewer than the largest: shards written
// by `shardtrain data prepare` differ by at most one, so such a file was
// probably cut short.
std::vector<std::string> UnevenShardWarnings(const std::vector<std::string>& paths,
                                             const std::vector<int64_t>& sizes,
                                             size_t full_shards) {
  std::vector<std::string> warnings;
  if (full_shards < 2) return warnings;
  const int64_t largest = *std::max_element(sizes.begin(), sizes.begin() + full_shards);
  for (size_t i = 0; i < full_shards; ++i) {
    if (sizes[i] >= largest - 1) continue;
    warnings.push_back(paths[i] + " holds " + std::to_string(sizes[i]) +
                       " records, its largest sibling " + std::to_string(largest) +
                       ": shards differ by at most one record when evenly written; is it "
                       "truncated?");
  }
  return warnings;
}

loss::Targets TargetRows(int64_t label_width, const std::vector<int32_t>& class_ids,
                         const std::vector<float>& label_values, int64_t first_row) {
  if (label_width == 0) return loss::Targets::ClassIds(class_ids.data() + first_row);
  return loss::Targets::Vectors(label_values.data() + first_row * label_width, label_width);
}

StatusOr<Dataset> LoadFiles(const std::vector<std::string>& paths, const ExampleDecoder& decoder,
                            const LoadOptions& options) {
  if (options.max_examples < 0) {
    return InvalidArgumentError("max_examples must be >= 0 (0 = all), got " +
                                std::to_string(options.max_examples));
  }
  if (paths.empty()) return InvalidArgumentError("no files to load");
  ASSIGN_OR_RETURN(const storage::TfRecordReaderOptions reader, ReaderOptions(options));
  const int64_t limit = options.max_examples == 0 ? INT64_MAX : options.max_examples;
  DatasetBuilder builder(decoder, options.labels, TotalBytes(paths), limit);
  size_t full_shards = 0;  // files read to their end
  for (const std::string& path : paths) {
    if (builder.full()) break;
    RETURN_IF_ERROR(LoadFile(path, reader, &builder));
    if (!builder.full()) ++full_shards;
  }
  Dataset& dataset = builder.dataset();
  if (options.prepared_shards) {
    dataset.warnings = UnevenShardWarnings(paths, dataset.shard_sizes, full_shards);
  }
  return std::move(dataset);
}

namespace {

// The size of the `image` bytes of the first record of `path` (the model
// input size of a prepared shard set); 0 when there is none to read, so the
// decoder reports what is wrong with the record.
int64_t FirstImageSize(const std::string& path) {
  auto reader = storage::TfRecordReader::Open(path);
  if (!reader.ok()) return 0;
  std::string record;
  StatusOr<bool> read = (*reader)->Next(&record);
  if (!read.ok() || !*read) return 0;
  tf::Example example;
  if (!example.ParseFromString(record)) return 0;
  const auto& features = example.features().feature();
  auto image = features.find("image");
  if (image == features.end() || image->second.bytes_list().value_size() == 0) return 0;
  return static_cast<int64_t>(image->second.bytes_list().value(0).size());
}

// Loads `split` of the prepared `dir` with the default spec; with labels
// when `num_classes` > 0.
StatusOr<Dataset> LoadPrepared(const std::string& dir, const std::string& split,
                               int64_t max_examples, int64_t num_classes) {
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, ListShards(dir, split));
  config::DataConfig data;
  data.set_dir(dir);
  // Without labels no class id is decoded; the decoder still wants a count.
  data.set_num_classes(num_classes > 0 ? num_classes : 1);
  const int64_t image_size = std::max<int64_t>(FirstImageSize(paths.front()), 1);
  ASSIGN_OR_RETURN(const ExampleDecoder decoder, ExampleDecoder::Create(data, {image_size}));
  LoadOptions options;
  options.max_examples = max_examples;
  options.labels = num_classes > 0;
  options.prepared_shards = true;
  return LoadFiles(paths, decoder, options);
}

}  // namespace

StatusOr<Dataset> LoadSplit(const std::string& dir, const std::string& split, int64_t max_examples,
                            int64_t num_classes) {
  if (num_classes <= 0) {
    return InvalidArgumentError("num_classes must be positive, got " + std::to_string(num_classes));
  }
  return LoadPrepared(dir, split, max_examples, num_classes);
}

StatusOr<Dataset> LoadUnlabeledSplit(const std::string& dir, const std::string& split,
                                     int64_t max_examples) {
  return LoadPrepared(dir, split, max_examples, 0);
}

StatusOr<std::pair<Dataset, Dataset>> SplitForValidation(Dataset dataset, double validation_split) {
  const int64_t n = dataset.num_examples;
  const auto split_at =
      static_cast<int64_t>(std::floor(static_cast<double>(n) * (1.0 - validation_split)));
  if (split_at <= 0 || split_at >= n) {
    return InvalidArgumentError(
        "training data contains " + std::to_string(n) +
        " examples, which is not sufficient to split it into a validation and training set as "
        "specified by training.validation_split = " +
        std::to_string(validation_split) +
        "; use more examples (data.train_examples) or another validation_split");
  }
  const auto cut = [](auto& values, int64_t rows, int64_t width, auto* tail) {
    const auto at = values.begin() + static_cast<std::ptrdiff_t>(rows * width);
    tail->assign(at, values.end());
    values.erase(at, values.end());
  };
  Dataset val;
  val.num_examples = n - split_at;
  val.feature_size = dataset.feature_size;
  val.label_width = dataset.label_width;
  cut(dataset.features, split_at, dataset.feature_size, &val.features);
  if (!dataset.labels.empty()) cut(dataset.labels, split_at, 1, &val.labels);
  if (!dataset.label_values.empty()) {
    cut(dataset.label_values, split_at, dataset.label_width, &val.label_values);
  }
  val.shard_sizes = {val.num_examples};

  Dataset& train = dataset;
  train.num_examples = split_at;
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
