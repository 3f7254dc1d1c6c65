// Decoders, from raw bytes, of the HDF5 object header messages that libhdf5
// 1.10 decodes without bounds checks when it touches an attribute: the
// attribute message and the datatype and dataspace inside it. Every field is
// checked against the message's bounds and for overflow; each decoder
// returns "" when the message decodes, else what is wrong. Compound types
// and shared (committed) types are refused: Keras files have none. Internal
// to storage/keras (hdf5_attribute_check.cc); pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shardtrain::storage::keras {

// The superblock's "size of offsets" and "size of lengths".
struct AddressSizes {
  size_t offset = 8;
  size_t length = 8;
};

struct RawDatatype {
  uint64_t size = 0;         // bytes per element as stored in an attribute
  bool vlen_string = false;  // elements are (length, heap address, heap index)
  size_t end = 0;            // offset just past the encoded type
};

struct RawAttribute {
  std::string name;
  RawDatatype type;
  uint64_t points = 0;  // elements in the dataspace
  std::string data;     // points * type.size bytes
};

// Little-endian unsigned of `width` (<= 8) bytes at `at`; callers check bounds.
uint64_t LittleEndian(const std::string& bytes, size_t at, size_t width);

// The datatype encoded in bytes[at, end); `depth` counts nested base types.
std::string DecodeDatatype(const std::string& bytes, size_t at, size_t end,
                           const AddressSizes& sizes, int depth, RawDatatype* type);
// The number of elements of the dataspace encoded in bytes[at, end).
std::string DecodeDataspace(const std::string& bytes, size_t at, size_t end,
                            const AddressSizes& sizes, uint64_t* points);
// An attribute message (versions 1-3): its name, type, element count and data.
std::string DecodeAttribute(const std::string& message, const AddressSizes& sizes,
                            RawAttribute* attribute);

}  // namespace shardtrain::storage::keras
