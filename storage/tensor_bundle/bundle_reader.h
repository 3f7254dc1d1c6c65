// Reader of TensorFlow tensor bundles (TF-written or ours). Layout: bundle_format.h.
//
// Open() reads and verifies PREFIX.index completely (every table block's CRC,
// the header's version and shard count, every entry's proto). Data files are
// opened lazily, on the first read of a tensor they hold, and kept open. Every
// tensor read checks the entry against the dtype/shape, the data file's size,
// and the tensor's CRC: damage is DataLoss naming the key and the file, never a
// crash or an unbounded allocation. (ReadPiece, for reads split among ranks,
// leaves the CRC to its caller: CheckCrc on the pieces' combined CRC.)
// Entries of partitioned tensors (with `slices`) are listed but reading them is
// Unimplemented; the binary per-slice keys (starting with byte 0x00) are not
// listed. Big-endian bundles are byte-swapped per element after the CRC check.
//
// Thread-safety: after Open, all methods may be called concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/tf/tensor_bundle.pb.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

class BundleReader {
 public:
  // NotFound when PREFIX.index does not exist; DataLoss when it is damaged;
  // FailedPrecondition when it needs a newer reader.
  static StatusOr<std::unique_ptr<BundleReader>> Open(FileSystem* fs, const std::string& prefix);
  ~BundleReader();
  BundleReader(const BundleReader&) = delete;
  BundleReader& operator=(const BundleReader&) = delete;

  const std::string& prefix() const { return prefix_; }
  const tf::BundleHeaderProto& header() const { return header_; }

  // Tensor keys, sorted bytewise, without the header and per-slice keys.
  std::vector<std::string> Keys() const;
  bool Contains(const std::string& key) const;
  // True when `key` is a partitioned tensor (its entry has slices).
  bool IsPartitioned(const std::string& key) const;
  // NotFound naming the key and the prefix.
  StatusOr<tf::BundleEntryProto> Entry(const std::string& key) const;

  // Reads a fixed-size tensor into `out`, which must be exactly entry.size
  // bytes (InvalidArgument naming the key, its dtype and shape otherwise).
  // Verifies the CRC (DataLoss naming the key and the data file).
  Status Read(const std::string& key, void* out, size_t bytes) const;
  // Reads bytes [begin, begin + n) of a fixed-size tensor (a whole number of
  // elements) into `out` and returns their CRC-32C, WITHOUT verifying them:
  // callers that read a tensor in pieces (possibly on several ranks) combine
  // the pieces' CRCs in order (Crc32cCombine) and pass the result to CheckCrc
  // before trusting any byte. Big-endian bundles are swapped per element.
  StatusOr<uint32_t> ReadPiece(const std::string& key, uint64_t begin, size_t n, char* out) const;
  // OK when `key`'s bytes lie inside its data file (opened if need be):
  // NotFound for a missing data file, DataLoss naming the key and the file for
  // a short one. Reads no tensor bytes.
  Status CheckInFile(const std::string& key) const;
  // OK when `crc` is the stored CRC-32C of tensor `key`; DataLoss naming the
  // key and its data file otherwise.
  Status CheckCrc(const std::string& key, uint32_t crc) const;
  // The same, returning the bytes.
  StatusOr<std::string> ReadBytes(const std::string& key) const;
  // Reads a DT_STRING tensor (all elements, row-major), CRC checked.
  StatusOr<std::vector<std::string>> ReadStrings(const std::string& key) const;

 private:
  BundleReader(FileSystem* fs, std::string prefix);
  // The entry of `key`, checked for consistency (shard, offset, size vs
  // dtype × shape); `*num_elements` receives the element count.
  StatusOr<const tf::BundleEntryProto*> CheckedEntry(const std::string& key,
                                                     int64_t* num_elements) const;
  // The data file holding `entry`, after checking that all of the entry's
  // bytes lie inside it (DataLoss naming the key and the file otherwise).
  StatusOr<RandomAccessFile*> EntryFile(const std::string& key,
                                        const tf::BundleEntryProto& entry) const;
  // Reads bytes [begin, begin + n) of `key`'s entry into `out` (the whole
  // entry bounds checked against the file, no CRC check); with `crc` not null,
  // also extends `*crc` over them.
  Status ReadEntryBytes(const std::string& key, const tf::BundleEntryProto& entry, uint64_t begin,
                        size_t n, char* out, uint32_t* crc = nullptr) const;
  StatusOr<RandomAccessFile*> DataFile(int32_t shard_id) const;
  std::string DataPath(int32_t shard_id) const;

  FileSystem* fs_;
  std::string prefix_;
  tf::BundleHeaderProto header_;
  std::map<std::string, tf::BundleEntryProto> entries_;

  mutable std::mutex mu_;
  mutable std::map<int32_t, std::unique_ptr<RandomAccessFile>> data_files_;
};

}  // namespace shardtrain::storage
