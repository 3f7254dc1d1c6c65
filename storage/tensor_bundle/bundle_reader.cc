// Tensor bundle reader (contract in bundle_reader.h, layout in bundle_format.h).
#include "storage/tensor_bundle/bundle_reader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "storage/io/crc32c.h"
#include "storage/io/table.h"
#include "storage/tensor_bundle/bundle_format.h"

namespace shardtrain::storage {
namespace {

constexpr char kDamageHint[] =
    "the checkpoint is damaged; restore it from a copy or use an older checkpoint";

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

std::string ShapeString(const tf::TensorShapeProto& shape) {
  if (shape.unknown_rank()) return "<unknown rank>";
  std::string out = "[";
  for (int i = 0; i < shape.dim_size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(shape.dim(i).size());
  }
  return out + "]";
}

// Printable form of a key (binary slice keys hold NUL bytes).
std::string PrintableKey(const std::string& key) {
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

void SwapElementBytes(char* data, size_t bytes, size_t element_size) {
  if (element_size <= 1) return;
  for (size_t i = 0; i + element_size <= bytes; i += element_size) {
    std::reverse(data + i, data + i + element_size);
  }
}

}  // namespace

BundleReader::BundleReader(FileSystem* fs, std::string prefix)
    : fs_(fs), prefix_(std::move(prefix)) {}

BundleReader::~BundleReader() = default;

StatusOr<std::unique_ptr<BundleReader>> BundleReader::Open(FileSystem* fs,
                                                           const std::string& prefix) {
  const std::string index_path = IndexFilename(prefix);
  auto contents = fs->ReadFile(index_path);
  if (!contents.ok()) {
    if (contents.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no checkpoint at prefix '" + prefix + "': '" + index_path +
                           "' does not exist (pass the prefix without .index/.data suffixes)");
    }
    return contents.status();
  }
  std::unique_ptr<TableReader> table;
  ASSIGN_OR_RETURN(table, TableReader::Open(*contents, index_path));

  std::unique_ptr<BundleReader> reader(new BundleReader(fs, prefix));
  const auto& entries = table->entries();
  if (entries.empty() || entries.front().first != kBundleHeaderKey) {
    return DataLossError("index file '" + index_path +
                         "' has no header entry (empty key); " + kDamageHint);
  }
  if (!reader->header_.ParseFromString(entries.front().second)) {
    return DataLossError("index file '" + index_path + "': cannot parse the header; " +
                         kDamageHint);
  }
  const tf::BundleHeaderProto& header = reader->header_;
  if (header.num_shards() < 1) {
    return DataLossError("index file '" + index_path + "': header says num_shards " +
                         std::to_string(header.num_shards()) + "; " + kDamageHint);
  }
  const tf::VersionDef& version = header.version();
  if (version.producer() < 0 || version.min_consumer() > kBundleVersionConsumer ||
      std::count(version.bad_consumers().begin(), version.bad_consumers().end(),
                 kBundleVersionConsumer) > 0) {
    return FailedPreconditionError(
        "index file '" + index_path + "' has bundle version producer " +
        std::to_string(version.producer()) + ", min_consumer " +
        std::to_string(version.min_consumer()) + ", which this reader (consumer " +
        std::to_string(kBundleVersionConsumer) + ") cannot read");
  }
  if (header.endianness() != tf::BundleHeaderProto::LITTLE &&
      header.endianness() != tf::BundleHeaderProto::BIG) {
    return DataLossError("index file '" + index_path + "': unknown endianness " +
                         std::to_string(header.endianness()) + "; " + kDamageHint);
  }
  for (size_t i = 1; i < entries.size(); ++i) {
    tf::BundleEntryProto entry;
    if (!entry.ParseFromString(entries[i].second)) {
      return DataLossError("index file '" + index_path + "': cannot parse the entry of key '" +
                           PrintableKey(entries[i].first) + "'; " + kDamageHint);
    }
    reader->entries_.emplace_hint(reader->entries_.end(), entries[i].first, std::move(entry));
  }
  return reader;
}

std::vector<std::string> BundleReader::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) {
    if (!key.empty() && key[0] != '\0') keys.push_back(key);
  }
  return keys;
}

bool BundleReader::Contains(const std::string& key) const {
  return !key.empty() && entries_.count(key) > 0;
}

bool BundleReader::IsPartitioned(const std::string& key) const {
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.slices_size() > 0;
}

StatusOr<tf::BundleEntryProto> BundleReader::Entry(const std::string& key) const {
  auto it = entries_.find(key);
  if (key.empty() || it == entries_.end()) {
    return NotFoundError("key '" + PrintableKey(key) + "' not found in checkpoint '" + prefix_ +
                         "'");
  }
  return it->second;
}

std::string BundleReader::DataPath(int32_t shard_id) const {
  return DataFilename(prefix_, shard_id, header_.num_shards());
}

StatusOr<const tf::BundleEntryProto*> BundleReader::CheckedEntry(const std::string& key,
                                                                 int64_t* num_elements) const {
  auto it = entries_.find(key);
  if (key.empty() || it == entries_.end()) {
    return NotFoundError("key '" + PrintableKey(key) + "' not found in checkpoint '" + prefix_ +
                         "'");
  }
  const tf::BundleEntryProto& entry = it->second;
  const std::string what = "checkpoint '" + prefix_ + "', key '" + PrintableKey(key) + "'";
  if (entry.slices_size() > 0) {
    return UnimplementedError(what + " is a partitioned tensor (saved in " +
                              std::to_string(entry.slices_size()) +
                              " slices); partitioned tensors are unsupported: re-save it "
                              "unpartitioned");
  }
  if (entry.shard_id() < 0 || entry.shard_id() >= header_.num_shards()) {
    return DataLossError(what + ": shard_id " + std::to_string(entry.shard_id()) +
                         " is outside [0, " + std::to_string(header_.num_shards()) + "); " +
                         kDamageHint);
  }
  if (entry.offset() < 0 || entry.size() < 0) {
    return DataLossError(what + ": negative offset or size in the index; " + kDamageHint);
  }
  if (entry.shape().unknown_rank()) {
    return DataLossError(what + ": shape of unknown rank in the index; " + kDamageHint);
  }
  int64_t n = 1;
  for (const auto& dim : entry.shape().dim()) {
    if (dim.size() < 0) {
      return DataLossError(what + ": negative dimension in shape " + ShapeString(entry.shape()) +
                           "; " + kDamageHint);
    }
    if (dim.size() != 0 && n > std::numeric_limits<int64_t>::max() / dim.size()) {
      return DataLossError(what + ": shape " + ShapeString(entry.shape()) +
                           " has too many elements; " + kDamageHint);
    }
    n *= dim.size();
  }
  const int dtype = static_cast<int>(entry.dtype());
  if (dtype != kBundleDtString) {
    const size_t element_size = TfDTypeSize(dtype);
    if (element_size == 0) {
      return UnimplementedError(what + " has dtype " + TfDTypeName(dtype) +
                                ", which this reader does not support");
    }
    if (static_cast<uint64_t>(n) > static_cast<uint64_t>(entry.size()) / element_size ||
        static_cast<uint64_t>(n) * element_size != static_cast<uint64_t>(entry.size())) {
      return DataLossError(what + ": " + TfDTypeName(dtype) + " " + ShapeString(entry.shape()) +
                           " needs " + std::to_string(n) + " x " + std::to_string(element_size) +
                           " bytes but the index records " + std::to_string(entry.size()) +
                           "; " + kDamageHint);
    }
  } else if (static_cast<uint64_t>(n) > static_cast<uint64_t>(entry.size())) {
    // Every element needs at least one length byte.
    return DataLossError(what + ": string tensor of " + std::to_string(n) +
                         " elements cannot fit in " + std::to_string(entry.size()) + " bytes; " +
                         kDamageHint);
  }
  *num_elements = n;
  return &entry;
}

StatusOr<RandomAccessFile*> BundleReader::DataFile(int32_t shard_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = data_files_.find(shard_id);
  if (it != data_files_.end()) return it->second.get();
  const std::string path = DataPath(shard_id);
  auto file = fs_->NewUncachedRandomAccessFile(path);
  if (!file.ok()) {
    return Status(file.status().code(),
                  "checkpoint '" + prefix_ + "': cannot open data file: " +
                      file.status().message() +
                      (file.status().code() == StatusCode::kNotFound
                           ? " (the checkpoint is incomplete: its data files must sit next to "
                             "the index)"
                           : ""));
  }
  RandomAccessFile* raw = file->get();
  data_files_.emplace(shard_id, std::move(*file));
  return raw;
}

StatusOr<RandomAccessFile*> BundleReader::EntryFile(const std::string& key,
                                                    const tf::BundleEntryProto& entry) const {
  RandomAccessFile* file = nullptr;
  ASSIGN_OR_RETURN(file, DataFile(entry.shard_id()));
  const uint64_t offset = static_cast<uint64_t>(entry.offset());
  const uint64_t size = static_cast<uint64_t>(entry.size());
  if (offset > file->Size() || size > file->Size() - offset) {
    return DataLossError("data file '" + DataPath(entry.shard_id()) + "' is truncated: key '" +
                         PrintableKey(key) + "' needs bytes [" + std::to_string(offset) + ", " +
                         std::to_string(offset + size) + ") but the file has " +
                         std::to_string(file->Size()) + " bytes; " + kDamageHint);
  }
  return file;
}

Status BundleReader::CheckInFile(const std::string& key) const {
  int64_t num_elements = 0;
  const tf::BundleEntryProto* entry = nullptr;
  ASSIGN_OR_RETURN(entry, CheckedEntry(key, &num_elements));
  return EntryFile(key, *entry).status();
}

Status BundleReader::ReadEntryBytes(const std::string& key, const tf::BundleEntryProto& entry,
                                    uint64_t begin, size_t n, char* out, uint32_t* crc) const {
  RandomAccessFile* file = nullptr;
  ASSIGN_OR_RETURN(file, EntryFile(key, entry));
  const uint64_t offset = static_cast<uint64_t>(entry.offset());
  const std::string path = DataPath(entry.shard_id());
  size_t got = 0;
  if (crc != nullptr) {
    ASSIGN_OR_RETURN(got, file->ReadWithCrc32c(offset + begin, n, out, crc));
  } else {
    ASSIGN_OR_RETURN(got, file->Read(offset + begin, n, out));
  }
  if (got != n) {
    return DataLossError("data file '" + path + "' is truncated: key '" + PrintableKey(key) +
                         "' got " + std::to_string(got) + " of " + std::to_string(n) +
                         " bytes at offset " + std::to_string(offset + begin) + "; " +
                         kDamageHint);
  }
  return OkStatus();
}

Status BundleReader::Read(const std::string& key, void* out, size_t bytes) const {
  int64_t num_elements = 0;
  const tf::BundleEntryProto* entry = nullptr;
  ASSIGN_OR_RETURN(entry, CheckedEntry(key, &num_elements));
  if (bytes != static_cast<uint64_t>(entry->size())) {
    return InvalidArgumentError("checkpoint '" + prefix_ + "', key '" + PrintableKey(key) +
                                "' is " + TfDTypeName(static_cast<int>(entry->dtype())) + " " +
                                ShapeString(entry->shape()) + " (" +
                                std::to_string(entry->size()) + " bytes), but a buffer of " +
                                std::to_string(bytes) + " bytes was given");
  }
  uint32_t crc = 0;
  ASSIGN_OR_RETURN(crc, ReadPiece(key, 0, bytes, static_cast<char*>(out)));
  return CheckCrc(key, crc);
}

StatusOr<uint32_t> BundleReader::ReadPiece(const std::string& key, uint64_t begin, size_t n,
                                           char* out) const {
  int64_t num_elements = 0;
  const tf::BundleEntryProto* entry = nullptr;
  ASSIGN_OR_RETURN(entry, CheckedEntry(key, &num_elements));
  const int dtype = static_cast<int>(entry->dtype());
  if (dtype == kBundleDtString) {
    return InvalidArgumentError("checkpoint '" + prefix_ + "', key '" + PrintableKey(key) +
                                "' is a string tensor: read it with ReadStrings");
  }
  const size_t element_size = TfDTypeSize(dtype);
  const uint64_t size = static_cast<uint64_t>(entry->size());
  if (begin > size || n > size - begin || begin % element_size != 0 || n % element_size != 0) {
    return InvalidArgumentError("checkpoint '" + prefix_ + "', key '" + PrintableKey(key) +
                                "' has " + std::to_string(size) + " bytes of " +
                                std::to_string(element_size) + "-byte elements; bytes [" +
                                std::to_string(begin) + ", " + std::to_string(begin + n) +
                                ") are not a whole-element range of it");
  }
  uint32_t crc = 0;
  RETURN_IF_ERROR(ReadEntryBytes(key, *entry, begin, n, out, &crc));
  if (header_.endianness() == tf::BundleHeaderProto::BIG) {
    // Complex values swap each of their two components.
    const bool is_complex = dtype == 8 || dtype == 18;
    SwapElementBytes(out, n, is_complex ? element_size / 2 : element_size);
  }
  return crc;
}

Status BundleReader::CheckCrc(const std::string& key, uint32_t crc) const {
  int64_t num_elements = 0;
  const tf::BundleEntryProto* entry = nullptr;
  ASSIGN_OR_RETURN(entry, CheckedEntry(key, &num_elements));
  const uint32_t stored = Crc32cUnmask(entry->crc32c());
  if (crc == stored) return OkStatus();
  return DataLossError("checksum mismatch for key '" + PrintableKey(key) + "' in data file '" +
                       DataPath(entry->shard_id()) + "' (stored " + Hex32(stored) +
                       ", computed " + Hex32(crc) + "); " + kDamageHint);
}

StatusOr<std::string> BundleReader::ReadBytes(const std::string& key) const {
  int64_t num_elements = 0;
  const tf::BundleEntryProto* entry = nullptr;
  ASSIGN_OR_RETURN(entry, CheckedEntry(key, &num_elements));
  if (static_cast<int>(entry->dtype()) == kBundleDtString) {
    return InvalidArgumentError("checkpoint '" + prefix_ + "', key '" + PrintableKey(key) +
                                "' is a string tensor: read it with ReadStrings");
  }
  // CheckedEntry does not bound the size by the file; do so before allocating.
  RETURN_IF_ERROR(EntryFile(key, *entry).status());
  std::string out(static_cast<size_t>(entry->size()), '\0');
  RETURN_IF_ERROR(Read(key, out.data(), out.size()));
  return out;
}

StatusOr<std::vector<std::string>> BundleReader::ReadStrings(const std::string& key) const {
  int64_t num_elements = 0;
  const tf::BundleEntryProto* entry = nullptr;
  ASSIGN_OR_RETURN(entry, CheckedEntry(key, &num_elements));
  const std::string what = "checkpoint '" + prefix_ + "', key '" + PrintableKey(key) + "'";
  if (static_cast<int>(entry->dtype()) != kBundleDtString) {
    return InvalidArgumentError(what + " is " + TfDTypeName(static_cast<int>(entry->dtype())) +
                                ", not a string tensor: read it with Read");
  }
  RETURN_IF_ERROR(EntryFile(key, *entry).status());  // bounds the size before allocating
  const std::string path = DataPath(entry->shard_id());
  std::string bytes(static_cast<size_t>(entry->size()), '\0');
  RETURN_IF_ERROR(ReadEntryBytes(key, *entry, 0, bytes.size(), bytes.data()));

  const std::string corrupt = "string tensor '" + PrintableKey(key) + "' in data file '" + path +
                              "' is corrupt";
  std::string_view input = bytes;
  std::vector<uint64_t> lengths;
  lengths.reserve(static_cast<size_t>(num_elements));
  uint32_t crc = 0;
  uint64_t total = 0;
  for (int64_t i = 0; i < num_elements; ++i) {
    uint64_t length = 0;
    if (!GetVarint64(&input, &length) || length > bytes.size()) {
      return DataLossError(corrupt + " (bad length of element " + std::to_string(i) + "); " +
                           kDamageHint);
    }
    std::string fed;
    if (length > 0xffffffffull) {
      PutFixed64(&fed, length);
    } else {
      PutFixed32(&fed, static_cast<uint32_t>(length));
    }
    crc = Crc32cExtend(crc, fed.data(), fed.size());
    lengths.push_back(length);
    total += length;
    if (total > bytes.size()) {
      return DataLossError(corrupt + " (lengths exceed the entry's " +
                           std::to_string(bytes.size()) + " bytes); " + kDamageHint);
    }
  }
  if (input.size() < 4) {
    return DataLossError(corrupt + " (no length checksum); " + kDamageHint);
  }
  const uint32_t stored_length_crc = Crc32cUnmask(DecodeFixed32(input.data()));
  if (stored_length_crc != crc) {
    return DataLossError("checksum mismatch for the lengths of key '" + PrintableKey(key) +
                         "' in data file '" + path + "' (stored " + Hex32(stored_length_crc) +
                         ", computed " + Hex32(crc) + "); " + kDamageHint);
  }
  crc = Crc32cExtend(crc, input.data(), 4);
  input.remove_prefix(4);
  if (total != input.size()) {
    return DataLossError(corrupt + " (lengths add up to " + std::to_string(total) + " bytes, " +
                         std::to_string(input.size()) + " stored); " + kDamageHint);
  }
  crc = Crc32cExtend(crc, input.data(), input.size());
  const uint32_t stored = Crc32cUnmask(entry->crc32c());
  if (crc != stored) {
    return DataLossError("checksum mismatch for key '" + PrintableKey(key) + "' in data file '" +
                         path + "' (stored " + Hex32(stored) + ", computed " + Hex32(crc) +
                         "); " + kDamageHint);
  }
  std::vector<std::string> values;
  values.reserve(lengths.size());
  for (uint64_t length : lengths) {
    values.emplace_back(input.substr(0, length));
    input.remove_prefix(length);
  }
  return values;
}

}  // namespace shardtrain::storage
