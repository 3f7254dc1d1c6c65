// TensorFlow table writer and reader (contract and layout in table.h).
#include "storage/io/table.h"

#include <snappy.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "storage/io/crc32c.h"

namespace shardtrain::storage {

// ---------------------------------------------------------------------------
// Coding.

void PutFixed32(std::string* out, uint32_t value) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  out->append(buf, 4);
}

void PutFixed64(std::string* out, uint64_t value) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(value >> (8 * i));
  out->append(buf, 8);
}

void PutVarint64(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

size_t VarintLength(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

uint32_t DecodeFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

uint64_t DecodeFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

bool GetVarint64(std::string_view* input, uint64_t* value) {
  uint64_t result = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i >= input->size()) return false;
    const uint64_t byte = static_cast<unsigned char>((*input)[i]);
    if (i == 9 && byte > 1) return false;  // would overflow 64 bits
    result |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      input->remove_prefix(i + 1);
      *value = result;
      return true;
    }
  }
  return false;
}

bool GetVarint32(std::string_view* input, uint32_t* value) {
  std::string_view copy = *input;
  uint64_t v = 0;
  if (!GetVarint64(&copy, &v) || v > 0xffffffffull || input->size() - copy.size() > 5) return false;
  *input = copy;
  *value = static_cast<uint32_t>(v);
  return true;
}

namespace {

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

constexpr char kCorruptHint[] =
    "the file is damaged or not a TensorFlow index; restore it or re-save the checkpoint";

// A WritableFile that appends into a string (for BuildTable).
class StringFile : public WritableFile {
 public:
  explicit StringFile(std::string* out) : out_(out) {}
  Status Append(std::string_view data) override {
    out_->append(data);
    return OkStatus();
  }
  Status Sync() override { return OkStatus(); }
  Status Close() override { return OkStatus(); }

 private:
  std::string* out_;
};

}  // namespace

namespace table_internal {

void FindShortestSeparator(std::string* start, std::string_view limit) {
  const size_t min_length = std::min(start->size(), limit.size());
  size_t diff = 0;
  while (diff < min_length && (*start)[diff] == limit[diff]) ++diff;
  if (diff >= min_length) return;  // one is a prefix of the other
  const uint8_t byte = static_cast<uint8_t>((*start)[diff]);
  if (byte < 0xff && byte + 1 < static_cast<uint8_t>(limit[diff])) {
    (*start)[diff] = static_cast<char>(byte + 1);
    start->resize(diff + 1);
  }
}

void FindShortSuccessor(std::string* key) {
  for (size_t i = 0; i < key->size(); ++i) {
    const uint8_t byte = static_cast<uint8_t>((*key)[i]);
    if (byte != 0xff) {
      (*key)[i] = static_cast<char>(byte + 1);
      key->resize(i + 1);
      return;
    }
  }
  // All 0xff: unchanged.
}

}  // namespace table_internal

// ---------------------------------------------------------------------------
// Writer.

class TableBuilder::BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval) : restart_interval_(restart_interval) { Reset(); }

  void Reset() {
    buffer_.clear();
    restarts_.assign(1, 0);
    counter_ = 0;
    last_key_.clear();
  }

  void Add(std::string_view key, std::string_view value) {
    size_t shared = 0;
    if (counter_ < restart_interval_) {
      const size_t n = std::min(last_key_.size(), key.size());
      while (shared < n && last_key_[shared] == key[shared]) ++shared;
    } else {
      restarts_.push_back(static_cast<uint32_t>(buffer_.size()));
      counter_ = 0;
    }
    PutVarint64(&buffer_, shared);
    PutVarint64(&buffer_, key.size() - shared);
    PutVarint64(&buffer_, value.size());
    buffer_.append(key.substr(shared));
    buffer_.append(value);
    last_key_.assign(key);
    ++counter_;
  }

  size_t SizeEstimate() const { return buffer_.size() + 4 * restarts_.size() + 4; }
  bool empty() const { return buffer_.empty(); }

  // The finished block's bytes (valid until Reset).
  std::string_view Finish() {
    for (uint32_t r : restarts_) PutFixed32(&buffer_, r);
    PutFixed32(&buffer_, static_cast<uint32_t>(restarts_.size()));
    return buffer_;
  }

 private:
  const int restart_interval_;
  std::string buffer_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;
  std::string last_key_;
};

TableBuilder::TableBuilder(WritableFile* file, TableOptions options)
    : file_(file),
      options_(options),
      data_block_(std::make_unique<BlockBuilder>(std::max(1, options.block_restart_interval))),
      index_block_(std::make_unique<BlockBuilder>(kTableIndexRestartInterval)) {}

TableBuilder::~TableBuilder() = default;

Status TableBuilder::Add(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(status_);
  if (finished_) return FailedPreconditionError("TableBuilder::Add after Finish");
  if (num_entries_ > 0 && key.compare(last_key_) <= 0) {
    return status_ = InvalidArgumentError(
               "table keys must be strictly increasing: key '" + std::string(key) +
               "' comes after '" + last_key_ + "' (keys must be unique and sorted bytewise)");
  }
  if (key.size() > 0xffffffffull || value.size() > 0xffffffffull) {
    return status_ = InvalidArgumentError("table entry for key '" + std::string(key).substr(0, 64) +
                                          "' is larger than 4 GiB");
  }
  if (num_entries_ > 0 && key.size() + value.size() >= 2 * options_.block_size &&
      !data_block_->empty()) {
    RETURN_IF_ERROR(FlushDataBlock());
  }
  if (pending_index_entry_) {
    table_internal::FindShortestSeparator(&last_key_, key);
    std::string handle;
    PutVarint64(&handle, pending_offset_);
    PutVarint64(&handle, pending_size_);
    index_block_->Add(last_key_, handle);
    pending_index_entry_ = false;
  }
  last_key_.assign(key);
  ++num_entries_;
  data_block_->Add(key, value);
  if (data_block_->SizeEstimate() >= options_.block_size) RETURN_IF_ERROR(FlushDataBlock());
  return OkStatus();
}

Status TableBuilder::FlushDataBlock() {
  if (data_block_->empty()) return OkStatus();
  RETURN_IF_ERROR(WriteBlock(data_block_->Finish(), &pending_offset_, &pending_size_));
  data_block_->Reset();
  pending_index_entry_ = true;
  return OkStatus();
}

Status TableBuilder::WriteBlock(std::string_view contents, uint64_t* offset, uint64_t* size) {
  const char type = static_cast<char>(kTableNoCompression);
  const uint32_t crc = Crc32cExtend(Crc32c(contents.data(), contents.size()), &type, 1);
  std::string trailer(1, type);
  PutFixed32(&trailer, Crc32cMask(crc));
  Status status = file_->Append(contents);
  if (status.ok()) status = file_->Append(trailer);
  if (!status.ok()) return status_ = status;
  *offset = offset_;
  *size = contents.size();
  offset_ += contents.size() + trailer.size();
  return OkStatus();
}

Status TableBuilder::Finish() {
  RETURN_IF_ERROR(status_);
  if (finished_) return FailedPreconditionError("TableBuilder::Finish called twice");
  finished_ = true;
  RETURN_IF_ERROR(FlushDataBlock());

  BlockBuilder metaindex(kTableIndexRestartInterval);
  uint64_t metaindex_offset = 0, metaindex_size = 0;
  RETURN_IF_ERROR(WriteBlock(metaindex.Finish(), &metaindex_offset, &metaindex_size));

  if (pending_index_entry_) {
    table_internal::FindShortSuccessor(&last_key_);
    std::string handle;
    PutVarint64(&handle, pending_offset_);
    PutVarint64(&handle, pending_size_);
    index_block_->Add(last_key_, handle);
    pending_index_entry_ = false;
  }
  uint64_t index_offset = 0, index_size = 0;
  RETURN_IF_ERROR(WriteBlock(index_block_->Finish(), &index_offset, &index_size));

  std::string footer;
  PutVarint64(&footer, metaindex_offset);
  PutVarint64(&footer, metaindex_size);
  PutVarint64(&footer, index_offset);
  PutVarint64(&footer, index_size);
  footer.resize(kTableMaxHandlesSize, '\0');
  PutFixed32(&footer, static_cast<uint32_t>(kTableMagic & 0xffffffffu));
  PutFixed32(&footer, static_cast<uint32_t>(kTableMagic >> 32));
  Status status = file_->Append(footer);
  if (!status.ok()) return status_ = status;
  offset_ += footer.size();
  return OkStatus();
}

StatusOr<std::string> BuildTable(const std::vector<std::pair<std::string, std::string>>& entries,
                                 TableOptions options) {
  std::string out;
  StringFile file(&out);
  TableBuilder builder(&file, options);
  for (const auto& [key, value] : entries) RETURN_IF_ERROR(builder.Add(key, value));
  RETURN_IF_ERROR(builder.Finish());
  return out;
}

// ---------------------------------------------------------------------------
// Reader.

namespace {

class TableParser {
 public:
  TableParser(std::string_view contents, const std::string& name)
      : contents_(contents), name_(name) {}

  Status Corrupt(const std::string& what) const {
    return DataLossError("index file '" + name_ + "': " + what + "; " + kCorruptHint);
  }

  // Reads and verifies the block at (offset, size); `limit` is where the
  // footer starts. Returns the (decompressed) block bytes.
  StatusOr<std::string> ReadBlock(const char* kind, uint64_t offset, uint64_t size) const {
    const uint64_t limit = contents_.size() - kTableFooterSize;
    const std::string where = std::string(kind) + " block at offset " + std::to_string(offset) +
                              " (size " + std::to_string(size) + ")";
    if (offset > limit || size > limit - offset ||
        kTableBlockTrailerSize > limit - offset - size) {
      return Corrupt(where + " lies outside the file of " + std::to_string(contents_.size()) +
                     " bytes (truncated?)");
    }
    const char* block = contents_.data() + offset;
    const char type = block[size];
    const uint32_t stored = Crc32cUnmask(DecodeFixed32(block + size + 1));
    const uint32_t actual = Crc32cExtend(Crc32c(block, size), &type, 1);
    if (stored != actual) {
      return Corrupt(where + ": checksum mismatch (stored " + Hex32(stored) + ", computed " +
                     Hex32(actual) + ")");
    }
    switch (static_cast<uint8_t>(type)) {
      case kTableNoCompression:
        return std::string(block, size);
      case kTableSnappyCompression: {
        size_t length = 0;
        if (!snappy::IsValidCompressedBuffer(block, size) ||
            !snappy::GetUncompressedLength(block, size, &length)) {
          return Corrupt(where + ": invalid Snappy data");
        }
        std::string out(length, '\0');
        if (!snappy::RawUncompress(block, size, out.data())) {
          return Corrupt(where + ": invalid Snappy data");
        }
        return out;
      }
      default:
        return Corrupt(where + ": unknown compression type " +
                       std::to_string(static_cast<uint8_t>(type)));
    }
  }

  // Appends the entries of a decoded block to `*out`.
  Status DecodeBlock(const char* kind, uint64_t block_offset, std::string_view block,
                     std::vector<std::pair<std::string, std::string>>* out) const {
    const std::string where = std::string(kind) + " block at offset " + std::to_string(block_offset);
    if (block.size() < 4) return Corrupt(where + " is shorter than 4 bytes");
    const uint64_t num_restarts = DecodeFixed32(block.data() + block.size() - 4);
    if (num_restarts > (block.size() - 4) / 4) {
      return Corrupt(where + ": restart count " + std::to_string(num_restarts) +
                     " does not fit the block of " + std::to_string(block.size()) + " bytes");
    }
    const size_t restarts_offset = block.size() - 4 - 4 * num_restarts;
    for (uint64_t i = 0; i < num_restarts; ++i) {
      if (DecodeFixed32(block.data() + restarts_offset + 4 * i) > restarts_offset) {
        return Corrupt(where + ": restart point " + std::to_string(i) + " is out of range");
      }
    }
    std::string_view input = block.substr(0, restarts_offset);
    std::string key;
    while (!input.empty()) {
      const size_t entry_offset = restarts_offset - input.size();
      uint32_t shared = 0, unshared = 0, value_length = 0;
      if (!GetVarint32(&input, &shared) || !GetVarint32(&input, &unshared) ||
          !GetVarint32(&input, &value_length)) {
        return Corrupt(where + ": bad entry header at byte " + std::to_string(entry_offset));
      }
      if (shared > key.size() ||
          static_cast<uint64_t>(unshared) + value_length > input.size()) {
        return Corrupt(where + ": entry at byte " + std::to_string(entry_offset) +
                       " has out-of-range lengths");
      }
      key.resize(shared);
      key.append(input.substr(0, unshared));
      std::string value(input.substr(unshared, value_length));
      input.remove_prefix(unshared + value_length);
      out->emplace_back(key, std::move(value));
    }
    return OkStatus();
  }

 private:
  std::string_view contents_;
  const std::string& name_;
};

}  // namespace

StatusOr<std::unique_ptr<TableReader>> TableReader::Open(std::string_view contents,
                                                         std::string name) {
  std::unique_ptr<TableReader> reader(new TableReader());
  reader->name_ = std::move(name);
  TableParser parser(contents, reader->name_);
  if (contents.size() < kTableFooterSize) {
    return parser.Corrupt("file is " + std::to_string(contents.size()) +
                          " bytes, shorter than the 48-byte footer (truncated?)");
  }
  const char* footer = contents.data() + contents.size() - kTableFooterSize;
  const uint64_t magic = DecodeFixed64(footer + kTableMaxHandlesSize);
  if (magic != kTableMagic) {
    return parser.Corrupt("bad magic number in the footer (truncated, or not a table file)");
  }
  std::string_view handles(footer, kTableMaxHandlesSize);
  uint64_t meta_offset = 0, meta_size = 0, index_offset = 0, index_size = 0;
  if (!GetVarint64(&handles, &meta_offset) || !GetVarint64(&handles, &meta_size) ||
      !GetVarint64(&handles, &index_offset) || !GetVarint64(&handles, &index_size)) {
    return parser.Corrupt("bad block handles in the footer");
  }
  {
    std::string metaindex;
    ASSIGN_OR_RETURN(metaindex, parser.ReadBlock("metaindex", meta_offset, meta_size));
  }
  std::string index;
  ASSIGN_OR_RETURN(index, parser.ReadBlock("index", index_offset, index_size));
  std::vector<std::pair<std::string, std::string>> index_entries;
  RETURN_IF_ERROR(parser.DecodeBlock("index", index_offset, index, &index_entries));

  for (const auto& [separator, handle_bytes] : index_entries) {
    std::string_view handle = handle_bytes;
    uint64_t offset = 0, size = 0;
    if (!GetVarint64(&handle, &offset) || !GetVarint64(&handle, &size)) {
      return parser.Corrupt("bad block handle in index entry '" + separator + "'");
    }
    std::string block;
    ASSIGN_OR_RETURN(block, parser.ReadBlock("data", offset, size));
    const size_t first = reader->entries_.size();
    RETURN_IF_ERROR(parser.DecodeBlock("data", offset, block, &reader->entries_));
    // Keys strictly increase within and across blocks and stay <= the separator.
    for (size_t i = first; i < reader->entries_.size(); ++i) {
      if (i > 0 && reader->entries_[i].first <= reader->entries_[i - 1].first) {
        return parser.Corrupt("keys out of order in the data block at offset " +
                              std::to_string(offset) + " (key '" + reader->entries_[i].first +
                              "')");
      }
      if (reader->entries_[i].first > separator) {
        return parser.Corrupt("key '" + reader->entries_[i].first +
                              "' is beyond its index entry in the data block at offset " +
                              std::to_string(offset));
      }
    }
  }
  return reader;
}

StatusOr<std::unique_ptr<TableReader>> TableReader::OpenFile(FileSystem* fs,
                                                             const std::string& path) {
  std::string contents;
  ASSIGN_OR_RETURN(contents, fs->ReadFile(path));
  return Open(contents, path);
}

const std::string* TableReader::Find(std::string_view key) const {
  auto it = std::lower_bound(
      entries_.begin(), entries_.end(), key,
      [](const std::pair<std::string, std::string>& e, std::string_view k) { return e.first < k; });
  if (it == entries_.end() || it->first != key) return nullptr;
  return &it->second;
}

}  // namespace shardtrain::storage
