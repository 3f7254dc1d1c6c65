// Writers of TensorFlow tensor bundles (checkpoints that tf.train.load_checkpoint,
// tf.train.list_variables and Keras load_weights read). Layout: bundle_format.h.
//
// Three levels:
//   * BundleShardWriter writes ONE data file (one shard) and remembers each
//     tensor's BundleEntryProto (dtype, shape, shard_id, offset, size, masked
//     crc32c). Used by every rank of a distributed checkpoint.
//   * WriteBundleIndex writes PREFIX.index for a set of entries collected from
//     all shards (rank 0 / the coordinator's commit step).
//   * BundleWriter is the single-process convenience: one shard + index under
//     temporary names, renamed into place by Finish() (data first, then index,
//     then the directory is synced) — like TF's own BundleWriter.
//
// Nothing here is durable until Finish() returns OK. None of the classes is
// thread-safe; distinct objects may be used from distinct threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "proto/tf/tensor_bundle.pb.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

class BundleShardWriter {
 public:
  // Creates (truncates) `data_path`; the caller picks temp names and renames.
  // `shard_id` is recorded in every entry.
  static StatusOr<std::unique_ptr<BundleShardWriter>> Open(FileSystem* fs,
                                                           const std::string& data_path,
                                                           int32_t shard_id);
  ~BundleShardWriter();
  BundleShardWriter(const BundleShardWriter&) = delete;
  BundleShardWriter& operator=(const BundleShardWriter&) = delete;

  // Appends a fixed-size tensor: `bytes` must equal num_elements(shape) ×
  // element size of `dtype` (InvalidArgument otherwise, as for an empty or
  // repeated key, a negative dim or a non-fixed-size dtype). Any TF DataType
  // value with a fixed element size may be passed as static_cast<DType>(v).
  Status Add(const std::string& key, DType dtype, const std::vector<int64_t>& shape,
             const void* data, size_t bytes);
  // Appends a DT_STRING tensor (spec §1.5); values.size() must equal
  // num_elements(shape).
  Status AddStrings(const std::string& key, const std::vector<int64_t>& shape,
                    const std::vector<std::string>& values);
  // Flushes, Sync()s and closes the data file. Later Add calls fail.
  Status Finish();

  // Entries added so far, in the order added (shard_id set).
  const std::vector<std::pair<std::string, tf::BundleEntryProto>>& entries() const {
    return entries_;
  }
  const std::string& data_path() const { return data_path_; }
  // Bytes written to the data file so far.
  int64_t size() const { return offset_; }

 private:
  BundleShardWriter(FileSystem* fs, std::string data_path, int32_t shard_id,
                    std::unique_ptr<WritableFile> file);
  // Checks the key and shape; on success `*num_elements` is set.
  Status CheckNewTensor(const std::string& key, const std::vector<int64_t>& shape,
                        int64_t* num_elements);
  // Appends `bytes`, extending `*crc` over them unless `crc` is null.
  Status Append(const std::string& key, std::string_view bytes, uint32_t* crc);
  void Record(const std::string& key, int dtype, const std::vector<int64_t>& shape, int64_t size,
              uint32_t crc);

  FileSystem* fs_;
  std::string data_path_;
  int32_t shard_id_;
  std::unique_ptr<WritableFile> file_;
  int64_t offset_ = 0;
  std::vector<std::pair<std::string, tf::BundleEntryProto>> entries_;
  std::set<std::string> keys_;
  Status status_;  // sticky first write error
  bool finished_ = false;
};

// Writes `index_path` (PREFIX.index) for a bundle of `num_shards` data files:
// the header {num_shards, LITTLE, version {producer 1}} under the empty key and
// `entries` sorted by key. InvalidArgument for a duplicate or empty key, a
// shard_id outside [0, num_shards) or num_shards < 1. Written in place (the
// caller does temp + rename) and Sync()ed and closed.
Status WriteBundleIndex(FileSystem* fs, const std::string& index_path, int32_t num_shards,
                        std::vector<std::pair<std::string, tf::BundleEntryProto>> entries);

// The serialized table WriteBundleIndex writes (for tests and tools).
StatusOr<std::string> BuildBundleIndex(
    int32_t num_shards, std::vector<std::pair<std::string, tf::BundleEntryProto>> entries);

// A complete single-shard bundle at `prefix` (PREFIX.index +
// PREFIX.data-00000-of-00001), written under "<name>.tempstate<random>" names
// and renamed into place by Finish(). The prefix's directory is created. A
// writer destroyed before Finish() deletes its temporary files (best effort).
class BundleWriter {
 public:
  static StatusOr<std::unique_ptr<BundleWriter>> Open(FileSystem* fs, const std::string& prefix);
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  Status Add(const std::string& key, DType dtype, const std::vector<int64_t>& shape,
             const void* data, size_t bytes) {
    return shard_->Add(key, dtype, shape, data, bytes);
  }
  Status AddStrings(const std::string& key, const std::vector<int64_t>& shape,
                    const std::vector<std::string>& values) {
    return shard_->AddStrings(key, shape, values);
  }
  // Syncs the data file, writes and syncs the index, renames both into place
  // (data first) and syncs the directory. Only then is the bundle complete.
  Status Finish();

  const std::string& prefix() const { return prefix_; }

 private:
  BundleWriter(FileSystem* fs, std::string prefix, std::string temp_suffix,
               std::unique_ptr<BundleShardWriter> shard);

  FileSystem* fs_;
  std::string prefix_;
  std::string temp_suffix_;
  std::unique_ptr<BundleShardWriter> shard_;
  bool finished_ = false;
};

}  // namespace shardtrain::storage
