// TensorFlow's "table" (a LevelDB-style SSTable): the sorted string→string map
// stored in a tensor bundle's `.index` file. Spec: shared/spec/tf-formats.md §1.2.
//
// Layout written by TableBuilder (identical to TensorFlow's table writer with its
// defaults, so TF-written index files are reproduced byte for byte):
//
//   data block 0 ‖ trailer, data block 1 ‖ trailer, ...   (a block closes at >= 256 KiB)
//   metaindex block ‖ trailer                              (always empty: 00000000 01000000)
//   index block ‖ trailer                                  (one entry per data block)
//   footer (48 bytes)
//
//   block   = entries ‖ restart offsets (fixed32 LE each) ‖ number of restarts (fixed32 LE)
//   entry   = varint32 shared ‖ varint32 unshared ‖ varint32 value_len ‖ key[shared:] ‖ value
//             (a restart entry — every 16th in data blocks, every one in the index — has shared 0)
//   trailer = 1 byte compression (0 none, 1 Snappy; we write 0) ‖
//             fixed32 LE masked CRC-32C of (block bytes ‖ compression byte)
//   index entry: key = a separator >= the block's last key and < the next block's first key
//             (TF's shortest separator; the last block uses the short successor of its last key);
//             value = varint64 block offset ‖ varint64 block size (trailer not counted)
//   footer  = varint64 x4 (metaindex offset, size, index offset, size), zero padding to 40
//             bytes, magic 0xdb4775248b80fb57 as fixed32 LE low word then high word.
//
// Thread-safety: a TableBuilder is used by one thread. A TableReader is
// immutable after Open and safe to share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

inline constexpr size_t kTableBlockSize = 262144;   // data block target size
inline constexpr int kTableDataRestartInterval = 16;
inline constexpr int kTableIndexRestartInterval = 1;
inline constexpr size_t kTableBlockTrailerSize = 5;  // compression byte + masked crc
inline constexpr size_t kTableFooterSize = 48;
inline constexpr size_t kTableMaxHandlesSize = 40;   // 2 handles x 2 varint64 (<= 10 bytes each)
inline constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
inline constexpr uint8_t kTableNoCompression = 0;
inline constexpr uint8_t kTableSnappyCompression = 1;

struct TableOptions {
  size_t block_size = kTableBlockSize;
  int block_restart_interval = kTableDataRestartInterval;
};

// Writes a table to a WritableFile it does not own. Call Add() with strictly
// increasing keys (unsigned bytewise order), then Finish(). Syncing and closing
// the file is the caller's job.
class TableBuilder {
 public:
  explicit TableBuilder(WritableFile* file, TableOptions options = {});
  ~TableBuilder();
  TableBuilder(const TableBuilder&) = delete;
  TableBuilder& operator=(const TableBuilder&) = delete;

  // InvalidArgument when `key` is not greater than the previous key. After an
  // error (or Finish) every call fails.
  Status Add(std::string_view key, std::string_view value);
  // Writes the last data block, the metaindex and index blocks and the footer.
  Status Finish();

  uint64_t num_entries() const { return num_entries_; }
  // Bytes handed to the file so far (the file size after Finish).
  uint64_t file_size() const { return offset_; }

 private:
  class BlockBuilder;
  Status FlushDataBlock();
  // Writes `contents` + trailer and returns its handle (offset, size).
  Status WriteBlock(std::string_view contents, uint64_t* offset, uint64_t* size);

  WritableFile* file_;
  TableOptions options_;
  std::unique_ptr<BlockBuilder> data_block_;
  std::unique_ptr<BlockBuilder> index_block_;
  std::string last_key_;
  uint64_t num_entries_ = 0;
  uint64_t offset_ = 0;
  bool pending_index_entry_ = false;
  uint64_t pending_offset_ = 0;
  uint64_t pending_size_ = 0;
  bool finished_ = false;
  Status status_;
};

// Serializes `entries` (must be strictly increasing by key) as a whole table.
StatusOr<std::string> BuildTable(const std::vector<std::pair<std::string, std::string>>& entries,
                                 TableOptions options = {});

// Reads a whole table into memory, verifying the footer magic, every block's
// CRC (DataLoss naming the file and the block's offset), decoding Snappy
// blocks, bounds-checking every varint, length and offset, and checking that
// keys are strictly increasing. Truncated or corrupt input yields DataLoss
// naming the file; it never crashes or over-allocates.
class TableReader {
 public:
  // `contents` is the whole file; `name` (the file's path) is used in messages.
  static StatusOr<std::unique_ptr<TableReader>> Open(std::string_view contents, std::string name);
  static StatusOr<std::unique_ptr<TableReader>> OpenFile(FileSystem* fs, const std::string& path);

  // All entries, in key order.
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  // The value stored under `key`, or null.
  const std::string* Find(std::string_view key) const;
  const std::string& name() const { return name_; }

 private:
  TableReader() = default;
  std::string name_;
  std::vector<std::pair<std::string, std::string>> entries_;
};

// Little-endian and varint coding shared by the table and tensor bundle code.
void PutFixed32(std::string* out, uint32_t value);
void PutFixed64(std::string* out, uint64_t value);
void PutVarint64(std::string* out, uint64_t value);
uint32_t DecodeFixed32(const char* p);
uint64_t DecodeFixed64(const char* p);
// Decodes a varint at the front of `*input` and advances it; false when the
// input ends inside the varint or the varint is longer than 10 bytes / does
// not fit 64 bits (32 bits for GetVarint32).
bool GetVarint64(std::string_view* input, uint64_t* value);
bool GetVarint32(std::string_view* input, uint32_t* value);
// Number of bytes PutVarint64 writes for `value`.
size_t VarintLength(uint64_t value);

namespace table_internal {

// TF's key shortening used for index entries (spec §1.2.3); exposed for tests.
// Shortens `*start` to a string in [*start, limit) when possible.
void FindShortestSeparator(std::string* start, std::string_view limit);
// Shortens `*key` to a short string >= *key.
void FindShortSuccessor(std::string* key);

}  // namespace table_internal
}  // namespace shardtrain::storage
