#include "storage/keras/hdf5_attribute_check.h"

#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "storage/keras/hdf5_messages.h"

namespace shardtrain::storage::keras {
namespace {

constexpr uint16_t kAttributeMessage = 0x000C;
constexpr uint16_t kContinuationMessage = 0x0010;
constexpr uint16_t kAttributeInfoMessage = 0x0015;
constexpr uint8_t kSharedMessageFlag = 0x02;
constexpr size_t kMaxHeaderChunks = 1024;

uint64_t RoundUp8(uint64_t n) { return (n + 7) / 8 * 8; }

// An object header chunk: where its messages lie and how they are framed.
struct HeaderChunk {
  uint64_t address;
  uint64_t size;
  bool continuation;  // in version 2: "OCHK", the messages, a checksum
};

class AttributeCheck {
 public:
  AttributeCheck(std::string path, std::string object_path)
      : path_(std::move(path)), object_path_(std::move(object_path)),
        in_(path_, std::ios::binary) {}

  Status Run(hid_t file);

 private:
  // Errors inside say what is wrong; Run() names the file and the object.
  static Status Damaged(const std::string& why) { return DataLossError(why); }
  Status AttributeDamaged(const std::string& name, std::string_view why) const {
    const std::string which = name.empty() ? "message of " + object_path_ : object_path_ + "@" + name;
    return DataLossError("attribute " + which + ": " + std::string(why));
  }
  Status Walk(hid_t file);
  Status ReadLayout(hid_t file);
  StatusOr<std::string> Read(uint64_t address, uint64_t size);
  StatusOr<HeaderChunk> FirstChunk(uint64_t address);
  Status ScanChunk(const HeaderChunk& chunk, const std::string& bytes,
                   std::vector<HeaderChunk>* pending);
  Status CheckMessage(uint16_t type, const std::string& message, std::vector<HeaderChunk>* pending);
  Status CheckStrings(const RawAttribute& attribute);
  StatusOr<const std::map<uint64_t, uint64_t>*> Collection(uint64_t address);

  const std::string path_;
  const std::string object_path_;
  std::ifstream in_;
  uint64_t base_ = 0, file_size_ = 0;
  AddressSizes sizes_;
  bool version2_ = false;        // "OHDR" header: 1-byte message types
  bool creation_order_ = false;  // version 2 messages carry a creation index
  std::map<uint64_t, std::map<uint64_t, uint64_t>> collections_;  // address → (index → size)
};

Status AttributeCheck::ReadLayout(hid_t file) {
  hid_t plist = H5Fget_create_plist(file);
  hsize_t userblock = 0;
  const bool ok = plist >= 0 && H5Pget_sizes(plist, &sizes_.offset, &sizes_.length) >= 0 &&
                  H5Pget_userblock(plist, &userblock) >= 0;
  if (plist >= 0) H5Pclose(plist);
  if (!ok || sizes_.offset < 2 || sizes_.offset > 8 || sizes_.length < 2 || sizes_.length > 8) {
    return Damaged("the superblock's address sizes are unusable");
  }
  base_ = userblock;
  in_.seekg(0, std::ios::end);
  file_size_ = static_cast<uint64_t>(in_.tellg());
  return OkStatus();
}

StatusOr<std::string> AttributeCheck::Read(uint64_t address, uint64_t size) {
  if (address > file_size_ || base_ > file_size_ - address || size > file_size_ - address - base_) {
    return Damaged("an address points past the end of the file (" + std::to_string(address) +
                   " + " + std::to_string(size) + " bytes)");
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(base_ + address));
  in_.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in_) return Damaged("cannot read " + std::to_string(size) + " bytes");
  return bytes;
}

// The first chunk of the object header at `address` (version 1, or "OHDR" 2).
StatusOr<HeaderChunk> AttributeCheck::FirstChunk(uint64_t address) {
  ASSIGN_OR_RETURN(std::string prefix, Read(address, 6));
  if (prefix.compare(0, 4, "OHDR") != 0) {
    if (prefix[0] != 1) return Damaged("its object header has an unknown version");
    ASSIGN_OR_RETURN(prefix, Read(address, 16));
    return HeaderChunk{address + 16, LittleEndian(prefix, 8, 4), false};
  }
  const uint8_t flags = static_cast<uint8_t>(prefix[5]);
  const size_t size_width = size_t{1} << (flags & 3);
  const size_t size_at = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
  ASSIGN_OR_RETURN(prefix, Read(address, size_at + size_width));
  version2_ = true;
  creation_order_ = (flags & 0x04) != 0;
  return HeaderChunk{address + size_at + size_width, LittleEndian(prefix, size_at, size_width),
                     false};
}

Status AttributeCheck::ScanChunk(const HeaderChunk& chunk, const std::string& bytes,
                                 std::vector<HeaderChunk>* pending) {
  const bool v2 = version2_;
  const size_t header = v2 ? 4 + (creation_order_ ? 2 : 0) : 8;
  size_t at = 0;
  if (v2 && chunk.continuation) {
    if (bytes.compare(0, 4, "OCHK") != 0) return Damaged("a continuation chunk has no OCHK");
    at = 4;
  }
  while (at + header <= bytes.size()) {
    const uint16_t type = static_cast<uint16_t>(LittleEndian(bytes, at, v2 ? 1 : 2));
    const uint64_t size = LittleEndian(bytes, at + (v2 ? 1 : 2), 2);
    const uint8_t flags = static_cast<uint8_t>(bytes[at + (v2 ? 3 : 4)]);
    const size_t data_at = at + header;
    if (size > bytes.size() - data_at) return Damaged("an object header message runs past its chunk");
    if ((flags & kSharedMessageFlag) != 0 && type == kAttributeMessage) {
      return Damaged("a shared attribute message (not read by this reader)");
    }
    RETURN_IF_ERROR(CheckMessage(type, bytes.substr(data_at, size), pending));
    at = data_at + size;
  }
  return OkStatus();
}

Status AttributeCheck::CheckMessage(uint16_t type, const std::string& message,
                                    std::vector<HeaderChunk>* pending) {
  if (type == kContinuationMessage) {
    if (message.size() < sizes_.offset + sizes_.length) return Damaged("a short continuation");
    const uint64_t address = LittleEndian(message, 0, sizes_.offset);
    const uint64_t length = LittleEndian(message, sizes_.offset, sizes_.length);
    if (version2_ && length < 8) return Damaged("a short continuation chunk");
    // "OCHK" chunks: the signature, the messages, then a 4-byte checksum.
    pending->push_back({address, version2_ ? length - 4 : length, true});
  } else if (type == kAttributeInfoMessage) {
    // Dense storage: attributes in a fractal heap (its address "undefined" when unused).
    const size_t heap_at = 2 + ((message.size() > 1 && (message[1] & 1)) ? 2 : 0);
    if (message.size() < heap_at + sizes_.offset) return Damaged("a short attribute info message");
    if (LittleEndian(message, heap_at, sizes_.offset) != (~uint64_t{0} >> (64 - 8 * sizes_.offset))) {
      return Damaged("attributes in dense storage (not read by this reader)");
    }
  } else if (type == kAttributeMessage) {
    RawAttribute attribute;
    const std::string why = DecodeAttribute(message, sizes_, &attribute);
    if (!why.empty()) return AttributeDamaged(attribute.name, why);
    Status strings = CheckStrings(attribute);
    if (!strings.ok()) return AttributeDamaged(attribute.name, strings.message());
  }
  return OkStatus();
}

// The objects (index → size) of the global heap collection at `address`,
// walked as libhdf5 walks them, refusing whatever would derail libhdf5.
StatusOr<const std::map<uint64_t, uint64_t>*> AttributeCheck::Collection(uint64_t address) {
  auto cached = collections_.find(address);
  if (cached != collections_.end()) return &cached->second;
  const size_t object_header = 8 + sizes_.length;
  ASSIGN_OR_RETURN(std::string head, Read(address, object_header));
  if (head.compare(0, 4, "GCOL") != 0 || head[4] != 1) {
    return Damaged("a string points at " + std::to_string(address) +
                         ", which is not a global heap collection");
  }
  const uint64_t size = LittleEndian(head, 8, sizes_.length);
  if (size < object_header) return Damaged("a global heap collection has a bad size");
  ASSIGN_OR_RETURN(std::string bytes, Read(address, size));
  std::map<uint64_t, uint64_t> objects;
  for (uint64_t at = object_header; at + object_header <= size;) {
    const uint64_t index = LittleEndian(bytes, at, 2);
    const uint64_t object_size = LittleEndian(bytes, at + 8, sizes_.length);
    // Index 0 is free space, whose size counts its own header.
    const uint64_t need = index == 0 ? object_size : object_header + RoundUp8(object_size);
    if (need < object_header || object_size > size || need > size - at) {
      return Damaged("the global heap collection at " + std::to_string(address) +
                           " has an object of impossible size " + std::to_string(object_size));
    }
    if (index != 0 && !objects.emplace(index, object_size).second) {
      return Damaged("the global heap collection at " + std::to_string(address) +
                           " has object " + std::to_string(index) + " twice");
    }
    at += need;
  }
  return &collections_.emplace(address, std::move(objects)).first->second;
}

// Each variable-length string: a null one, or a heap object of its length.
Status AttributeCheck::CheckStrings(const RawAttribute& attribute) {
  if (!attribute.type.vlen_string) return OkStatus();
  const size_t stride = static_cast<size_t>(attribute.type.size);
  for (size_t at = 0; at + stride <= attribute.data.size(); at += stride) {
    const uint64_t length = LittleEndian(attribute.data, at, 4);
    const uint64_t collection = LittleEndian(attribute.data, at + 4, sizes_.offset);
    const uint64_t index = LittleEndian(attribute.data, at + 4 + sizes_.offset, 4);
    if (collection == 0) {
      if (length == 0) continue;
      return Damaged("a string of " + std::to_string(length) + " bytes has no heap object");
    }
    ASSIGN_OR_RETURN(const auto* objects, Collection(collection));
    auto object = objects->find(index);
    if (object == objects->end() || object->second != length) {
      return Damaged(
          "a string of " + std::to_string(length) + " bytes points at object " +
          std::to_string(index) + " of the global heap collection at " +
          std::to_string(collection) +
          (object == objects->end() ? ", which has no such object"
                                    : ", which holds " + std::to_string(object->second)));
    }
  }
  return OkStatus();
}

Status AttributeCheck::Run(hid_t file) {
  const Status walked = Walk(file);
  if (walked.ok()) return walked;
  const std::string& why = walked.message();
  return DataLossError("HDF5 file '" + path_ + "': " +
                       (why.rfind("attribute ", 0) == 0 ? why : "object " + object_path_ + ": " + why));
}

Status AttributeCheck::Walk(hid_t file) {
  if (!in_) return Damaged("cannot open the file to check it");
  RETURN_IF_ERROR(ReadLayout(file));
  H5O_info_t info;
  if (H5Oget_info_by_name2(file, object_path_.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    return Damaged("cannot locate its object header");
  }
  ASSIGN_OR_RETURN(HeaderChunk first, FirstChunk(info.addr));
  std::vector<HeaderChunk> pending = {first};
  std::set<uint64_t> seen;
  while (!pending.empty()) {
    const HeaderChunk chunk = pending.back();
    if (!seen.insert(chunk.address).second || seen.size() > kMaxHeaderChunks) {
      return Damaged("its object header's continuation chunks loop");
    }
    pending.pop_back();
    ASSIGN_OR_RETURN(std::string bytes, Read(chunk.address, chunk.size));
    RETURN_IF_ERROR(ScanChunk(chunk, bytes, &pending));
  }
  return OkStatus();
}

}  // namespace

Status CheckAttributes(const std::string& path, hid_t file, const std::string& object_path) {
  return AttributeCheck(path, object_path).Run(file);
}

}  // namespace shardtrain::storage::keras
