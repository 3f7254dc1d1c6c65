// Tensor bundle writers (contract in bundle_writer.h, layout in bundle_format.h).
#include "storage/tensor_bundle/bundle_writer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <random>

#include "storage/io/crc32c.h"
#include "storage/io/table.h"
#include "storage/tensor_bundle/bundle_format.h"

namespace shardtrain::storage {
namespace {

// Feeds one string length into the length checksum (spec §1.5): as a uint32 LE,
// or a uint64 LE when it does not fit 32 bits.
uint32_t ExtendLengthCrc(uint32_t crc, uint64_t length) {
  std::string bytes;
  if (length > 0xffffffffull) {
    PutFixed64(&bytes, length);
  } else {
    PutFixed32(&bytes, static_cast<uint32_t>(length));
  }
  return Crc32cExtend(crc, bytes.data(), bytes.size());
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

std::string RandomTempSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device device;
  const uint64_t value =
      (static_cast<uint64_t>(device()) << 32) ^ device() ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (counter.fetch_add(1) * 0x9E3779B97F4A7C15ull);
  return ".tempstate" + std::to_string(value);
}

}  // namespace

// ---------------------------------------------------------------------------
// BundleShardWriter.

BundleShardWriter::BundleShardWriter(FileSystem* fs, std::string data_path, int32_t shard_id,
                                     std::unique_ptr<WritableFile> file)
    : fs_(fs), data_path_(std::move(data_path)), shard_id_(shard_id), file_(std::move(file)) {}

BundleShardWriter::~BundleShardWriter() = default;

StatusOr<std::unique_ptr<BundleShardWriter>> BundleShardWriter::Open(FileSystem* fs,
                                                                     const std::string& data_path,
                                                                     int32_t shard_id) {
  if (shard_id < 0) {
    return InvalidArgumentError("bundle shard id must be >= 0, got " + std::to_string(shard_id));
  }
  std::unique_ptr<WritableFile> file;
  ASSIGN_OR_RETURN(file, fs->NewUncachedWritableFile(data_path));
  return std::unique_ptr<BundleShardWriter>(
      new BundleShardWriter(fs, data_path, shard_id, std::move(file)));
}

Status BundleShardWriter::CheckNewTensor(const std::string& key,
                                         const std::vector<int64_t>& shape,
                                         int64_t* num_elements) {
  RETURN_IF_ERROR(status_);
  if (finished_) {
    return FailedPreconditionError("bundle data file '" + data_path_ +
                                   "': Add after Finish (key '" + key + "')");
  }
  if (key.empty()) {
    return InvalidArgumentError("bundle keys must be non-empty (the empty key is the header)");
  }
  if (keys_.count(key) > 0) {
    return InvalidArgumentError("bundle key '" + key + "' was added twice to '" + data_path_ + "'");
  }
  int64_t n = 1;
  for (int64_t dim : shape) {
    if (dim < 0) {
      return InvalidArgumentError("tensor '" + key + "' has a negative dimension in shape " +
                                  ShapeString(shape));
    }
    if (dim != 0 && n > std::numeric_limits<int64_t>::max() / dim) {
      return InvalidArgumentError("tensor '" + key + "' shape " + ShapeString(shape) +
                                  " has too many elements");
    }
    n *= dim;
  }
  *num_elements = n;
  return OkStatus();
}

Status BundleShardWriter::Append(const std::string& key, std::string_view bytes,
                                 uint32_t* crc) {
  Status status = crc != nullptr ? file_->AppendWithCrc32c(bytes, crc) : file_->Append(bytes);
  if (!status.ok()) {
    status_ = status.WithContext("writing tensor '" + key + "' to bundle data file '" +
                                 data_path_ + "'");
    return status_;
  }
  return OkStatus();
}

void BundleShardWriter::Record(const std::string& key, int dtype,
                               const std::vector<int64_t>& shape, int64_t size, uint32_t crc) {
  tf::BundleEntryProto entry;
  entry.set_dtype(static_cast<tf::DataType>(dtype));
  tf::TensorShapeProto* shape_proto = entry.mutable_shape();  // always present, as TF writes it
  for (int64_t dim : shape) shape_proto->add_dim()->set_size(dim);
  entry.set_shard_id(shard_id_);
  entry.set_offset(offset_);
  entry.set_size(size);
  entry.set_crc32c(Crc32cMask(crc));
  offset_ += size;
  keys_.insert(key);
  entries_.emplace_back(key, std::move(entry));
}

Status BundleShardWriter::Add(const std::string& key, DType dtype,
                              const std::vector<int64_t>& shape, const void* data, size_t bytes) {
  int64_t num_elements = 0;
  RETURN_IF_ERROR(CheckNewTensor(key, shape, &num_elements));
  const int dtype_value = static_cast<int>(dtype);
  const size_t element_size = TfDTypeSize(dtype_value);
  if (element_size == 0) {
    return InvalidArgumentError("tensor '" + key + "': dtype " + TfDTypeName(dtype_value) +
                                " has no fixed element size" +
                                (dtype_value == kBundleDtString ? " (use AddStrings)" : ""));
  }
  if (static_cast<uint64_t>(num_elements) >
          std::numeric_limits<uint64_t>::max() / element_size ||
      static_cast<uint64_t>(num_elements) * element_size != bytes) {
    return InvalidArgumentError("tensor '" + key + "': " + std::to_string(bytes) +
                                " bytes given, but " + TfDTypeName(dtype_value) + " " +
                                ShapeString(shape) + " needs " +
                                std::to_string(num_elements) + " x " +
                                std::to_string(element_size) + " bytes");
  }
  if (bytes > 0 && data == nullptr) {
    return InvalidArgumentError("tensor '" + key + "': null data");
  }
  uint32_t crc = 0;
  RETURN_IF_ERROR(Append(key, std::string_view(static_cast<const char*>(data), bytes), &crc));
  Record(key, dtype_value, shape, static_cast<int64_t>(bytes), crc);
  return OkStatus();
}

Status BundleShardWriter::AddStrings(const std::string& key, const std::vector<int64_t>& shape,
                                     const std::vector<std::string>& values) {
  int64_t num_elements = 0;
  RETURN_IF_ERROR(CheckNewTensor(key, shape, &num_elements));
  if (static_cast<uint64_t>(num_elements) != values.size()) {
    return InvalidArgumentError("string tensor '" + key + "': " + std::to_string(values.size()) +
                                " values given, but shape " + ShapeString(shape) + " has " +
                                std::to_string(num_elements) + " elements");
  }
  std::string head;
  uint32_t crc = 0;
  uint64_t total = 0;
  for (const std::string& value : values) {
    PutVarint64(&head, value.size());
    crc = ExtendLengthCrc(crc, value.size());
  }
  PutFixed32(&head, Crc32cMask(crc));
  // The data crc covers the varint lengths only through their checksum.
  crc = Crc32cExtend(crc, head.data() + head.size() - 4, 4);
  RETURN_IF_ERROR(Append(key, head, nullptr));
  total += head.size();
  for (const std::string& value : values) {
    RETURN_IF_ERROR(Append(key, value, &crc));
    total += value.size();
  }
  Record(key, kBundleDtString, shape, static_cast<int64_t>(total), crc);
  return OkStatus();
}

Status BundleShardWriter::Finish() {
  RETURN_IF_ERROR(status_);
  if (finished_) return OkStatus();
  finished_ = true;
  Status status = file_->Sync();
  if (status.ok()) status = file_->Close();
  if (!status.ok()) {
    status_ = status.WithContext("finishing bundle data file '" + data_path_ + "'");
  }
  return status_;
}

// ---------------------------------------------------------------------------
// Index.

StatusOr<std::string> BuildBundleIndex(
    int32_t num_shards, std::vector<std::pair<std::string, tf::BundleEntryProto>> entries) {
  if (num_shards < 1) {
    return InvalidArgumentError("a bundle needs at least one shard, got num_shards " +
                                std::to_string(num_shards));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, std::string>> table;
  table.reserve(entries.size() + 1);
  tf::BundleHeaderProto header;
  header.set_num_shards(num_shards);
  header.set_endianness(tf::BundleHeaderProto::LITTLE);
  header.mutable_version()->set_producer(kBundleVersionProducer);
  header.mutable_version()->set_min_consumer(kBundleVersionMinConsumer);
  table.emplace_back(std::string(kBundleHeaderKey), header.SerializeAsString());
  for (size_t i = 0; i < entries.size(); ++i) {
    auto& [key, entry] = entries[i];
    if (key.empty()) {
      return InvalidArgumentError("bundle index: empty tensor key (reserved for the header)");
    }
    if (i > 0 && entries[i - 1].first == key) {
      return InvalidArgumentError("bundle index: duplicate key '" + key +
                                  "' (each tensor must be written by exactly one shard)");
    }
    if (entry.slices_size() == 0 &&
        (entry.shard_id() < 0 || entry.shard_id() >= num_shards)) {
      return InvalidArgumentError("bundle index: key '" + key + "' has shard_id " +
                                  std::to_string(entry.shard_id()) + " outside [0, " +
                                  std::to_string(num_shards) + ")");
    }
    entry.mutable_shape();  // TF always writes the shape field, even for scalars
    std::string value;
    if (!entry.SerializeToString(&value)) {
      return InternalError("bundle index: cannot serialize the entry of key '" + key + "'");
    }
    table.emplace_back(key, std::move(value));
  }
  return BuildTable(table);
}

Status WriteBundleIndex(FileSystem* fs, const std::string& index_path, int32_t num_shards,
                        std::vector<std::pair<std::string, tf::BundleEntryProto>> entries) {
  std::string contents;
  ASSIGN_OR_RETURN(contents, BuildBundleIndex(num_shards, std::move(entries)));
  std::unique_ptr<WritableFile> file;
  ASSIGN_OR_RETURN(file, fs->NewWritableFile(index_path));
  RETURN_IF_ERROR(file->Append(contents));
  RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

// ---------------------------------------------------------------------------
// BundleWriter.

BundleWriter::BundleWriter(FileSystem* fs, std::string prefix, std::string temp_suffix,
                           std::unique_ptr<BundleShardWriter> shard)
    : fs_(fs),
      prefix_(std::move(prefix)),
      temp_suffix_(std::move(temp_suffix)),
      shard_(std::move(shard)) {}

BundleWriter::~BundleWriter() {
  if (!finished_) {
    shard_.reset();
    fs_->DeleteFile(DataFilename(prefix_, 0, 1) + temp_suffix_).IgnoreError();
    fs_->DeleteFile(IndexFilename(prefix_) + temp_suffix_).IgnoreError();
  }
}

StatusOr<std::unique_ptr<BundleWriter>> BundleWriter::Open(FileSystem* fs,
                                                           const std::string& prefix) {
  if (prefix.empty() || prefix.back() == '/') {
    return InvalidArgumentError("bundle prefix '" + prefix +
                                "' must name a file stem such as dir/ckpt-1");
  }
  const std::string dir = DirName(prefix);
  if (dir != "." && dir != "/") RETURN_IF_ERROR(fs->CreateDirs(dir));
  const std::string suffix = RandomTempSuffix();
  std::unique_ptr<BundleShardWriter> shard;
  ASSIGN_OR_RETURN(shard, BundleShardWriter::Open(fs, DataFilename(prefix, 0, 1) + suffix, 0));
  return std::unique_ptr<BundleWriter>(new BundleWriter(fs, prefix, suffix, std::move(shard)));
}

Status BundleWriter::Finish() {
  if (finished_) return FailedPreconditionError("bundle '" + prefix_ + "' already finished");
  const std::string data_temp = DataFilename(prefix_, 0, 1) + temp_suffix_;
  const std::string index_temp = IndexFilename(prefix_) + temp_suffix_;
  RETURN_IF_ERROR(shard_->Finish());
  RETURN_IF_ERROR(WriteBundleIndex(fs_, index_temp, 1, shard_->entries()));
  RETURN_IF_ERROR(fs_->Rename(data_temp, DataFilename(prefix_, 0, 1)));
  finished_ = true;  // the data file is in place; only the index temp may remain
  Status status = fs_->Rename(index_temp, IndexFilename(prefix_));
  if (!status.ok()) {
    fs_->DeleteFile(index_temp).IgnoreError();
    return status;
  }
  return fs_->SyncDir(DirName(prefix_));
}

}  // namespace shardtrain::storage
