#include "storage/keras/hdf5_messages.h"

namespace shardtrain::storage::keras {
namespace {

constexpr int kMaxTypeDepth = 8;
constexpr uint64_t kMaxRank = 32;
constexpr uint64_t kMaxAtomicSize = 64;  // bytes of one number, string char, reference...

enum TypeClass : uint8_t {
  kFixedPoint = 0, kFloat = 1, kTime = 2, kString = 3, kBitfield = 4, kOpaque = 5,
  kCompound = 6, kReference = 7, kEnum = 8, kVlen = 9, kArray = 10,
};

uint64_t RoundUp8(uint64_t n) { return (n + 7) / 8 * 8; }

// a * b, or false when it overflows.
bool Multiply(uint64_t a, uint64_t b, uint64_t* product) {
  return !__builtin_mul_overflow(a, b, product);
}

// Bit offset and precision of a number of `size` bytes must lie inside it.
std::string CheckBits(uint64_t size, uint64_t offset, uint64_t precision) {
  if (size == 0 || size > kMaxAtomicSize) return "a number type of " + std::to_string(size) + " bytes";
  if (precision == 0 || offset + precision > 8 * size) return "a number type with bits outside it";
  return "";
}

std::string CheckFloat(const std::string& b, size_t props, uint64_t size) {
  std::string why = CheckBits(size, LittleEndian(b, props, 2), LittleEndian(b, props + 2, 2));
  if (!why.empty()) return why;
  const uint64_t exponent_at = uint8_t(b[props + 4]), exponent_bits = uint8_t(b[props + 5]);
  const uint64_t mantissa_at = uint8_t(b[props + 6]), mantissa_bits = uint8_t(b[props + 7]);
  if (exponent_bits == 0 || mantissa_bits == 0 || exponent_at + exponent_bits > 8 * size ||
      mantissa_at + mantissa_bits > 8 * size) {
    return "a float type with exponent or mantissa outside it";
  }
  return "";
}

// Enum members after the base type: NUL-terminated names (padded to 8 bytes
// before version 3), then one base-type value each.
std::string DecodeEnumMembers(const std::string& b, size_t at, size_t end, int version,
                              uint64_t members, uint64_t value_size, size_t* members_end) {
  for (uint64_t i = 0; i < members; ++i) {
    const size_t nul = b.find('\0', at);
    if (nul == std::string::npos || nul >= end) return "an enum member name runs past its type";
    const uint64_t length = nul - at;
    at += version >= 3 ? length + 1 : (length + 8) / 8 * 8;
    if (at > end) return "an enum member name runs past its type";
  }
  uint64_t values = 0;
  if (!Multiply(members, value_size, &values) || values > end - at) {
    return "enum values run past their type";
  }
  *members_end = at + values;
  return "";
}

// Array dimensions (and, before version 3, permutation indices), then the base type.
std::string DecodeArray(const std::string& b, size_t props, size_t end, int version,
                        const AddressSizes& sizes, int depth, RawDatatype* type) {
  if (props >= end) return "an array type is truncated";
  const uint64_t rank = uint8_t(b[props]);
  if (rank > kMaxRank) return "an array type of rank " + std::to_string(rank);
  const uint64_t fields = version < 3 ? 4 + 8 * rank : 1 + 4 * rank;
  if (fields > end - props) return "an array type is truncated";
  const size_t dims_at = props + (version < 3 ? 4 : 1);
  uint64_t elements = 1;
  for (uint64_t i = 0; i < rank; ++i) {
    if (!Multiply(elements, LittleEndian(b, dims_at + 4 * i, 4), &elements)) {
      return "an array type's size overflows";
    }
  }
  RawDatatype base;
  std::string why = DecodeDatatype(b, props + fields, end, sizes, depth + 1, &base);
  if (!why.empty()) return why;
  if (!Multiply(elements, base.size, &type->size)) return "an array type's size overflows";
  type->end = base.end;
  return "";
}

// Variable-length sequences and strings: a base type; on disk each element
// is (length, heap collection address, heap index).
std::string DecodeVlen(const std::string& b, size_t props, size_t end, uint64_t bits,
                       const AddressSizes& sizes, int depth, RawDatatype* type) {
  const uint64_t kind = bits & 0x0f;
  if (kind > 1) return "a variable-length type of unknown kind";
  RawDatatype base;
  std::string why = DecodeDatatype(b, props, end, sizes, depth + 1, &base);
  if (!why.empty()) return why;
  if (kind == 1 && (base.size != 1 || (uint8_t(b[props]) & 0x0f) != kFixedPoint)) {
    return "a variable-length string whose characters are not bytes";
  }
  if (base.size == 0 || base.size > kMaxAtomicSize) return "a variable-length type's base is too large";
  // libhdf5 sizes the stored data by the declared size, then reads elements
  // of the on-disk size: they must agree.
  if (type->size != 4 + sizes.offset + 4) {
    return "a variable-length type of size " + std::to_string(type->size) + " (its elements take " +
           std::to_string(4 + sizes.offset + 4) + " bytes)";
  }
  type->vlen_string = kind == 1;
  type->end = base.end;
  return "";
}

}  // namespace

uint64_t LittleEndian(const std::string& bytes, size_t at, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width; ++i) {
    value |= uint64_t{static_cast<uint8_t>(bytes[at + i])} << (8 * i);
  }
  return value;
}

std::string DecodeDatatype(const std::string& b, size_t at, size_t end, const AddressSizes& sizes,
                           int depth, RawDatatype* type) {
  if (depth > kMaxTypeDepth) return "datatypes nested too deeply";
  if (end > b.size() || at > end || end - at < 8) return "a datatype is truncated";
  const uint8_t type_class = uint8_t(b[at]) & 0x0f;
  const int version = uint8_t(b[at]) >> 4;
  const uint64_t bits = LittleEndian(b, at + 1, 3);
  const size_t props = at + 8;
  if (version < 1 || version > 4) return "a datatype of unknown version";
  *type = RawDatatype{LittleEndian(b, at + 4, 4), false, props};
  auto properties = [&](uint64_t n) -> std::string {
    if (n > end - props) return "a datatype's properties run past it";
    type->end = props + n;
    return "";
  };
  std::string why;
  switch (type_class) {
    case kFixedPoint:
    case kBitfield:
      why = properties(4);
      return why.empty() ? CheckBits(type->size, LittleEndian(b, props, 2), LittleEndian(b, props + 2, 2)) : why;
    case kFloat:
      why = properties(12);
      return why.empty() ? CheckFloat(b, props, type->size) : why;
    case kTime:
    case kString:
    case kReference:
      why = properties(type_class == kTime ? 2 : 0);
      if (!why.empty()) return why;
      return type->size == 0 || type->size > kMaxAtomicSize ? "a datatype of impossible size" : "";
    case kOpaque:
      return properties(bits & 0xff);
    case kEnum: {
      RawDatatype base;
      why = DecodeDatatype(b, props, end, sizes, depth + 1, &base);
      if (!why.empty()) return why;
      if (base.size != type->size) return "an enum type whose size is not its base type's";
      return DecodeEnumMembers(b, base.end, end, version, bits & 0xffff, base.size, &type->end);
    }
    case kVlen:
      return DecodeVlen(b, props, end, bits, sizes, depth, type);
    case kArray:
      return DecodeArray(b, props, end, version, sizes, depth, type);
    case kCompound:
      return "a compound datatype (not read by this reader)";
    default:
      return "a datatype of unknown class " + std::to_string(type_class);
  }
}

std::string DecodeDataspace(const std::string& b, size_t at, size_t end, const AddressSizes& sizes,
                            uint64_t* points) {
  if (end > b.size() || at > end || end - at < 4) return "a dataspace is truncated";
  const int version = uint8_t(b[at]);
  const uint64_t rank = uint8_t(b[at + 1]);
  const uint8_t flags = uint8_t(b[at + 2]);
  if (version < 1 || version > 2) return "a dataspace of unknown version";
  if (rank > kMaxRank) return "a dataspace of rank " + std::to_string(rank);
  const uint8_t kind = version == 2 ? uint8_t(b[at + 3]) : (rank > 0 ? 1 : 0);
  if (kind > 2) return "a dataspace of unknown kind";
  const size_t dims_at = at + (version == 1 ? 8 : 4);
  const uint64_t dims_bytes = rank * sizes.length * ((flags & 1) ? 2 : 1);
  if (dims_at > end || dims_bytes > end - dims_at) return "a dataspace's dimensions run past it";
  *points = kind == 2 ? 0 : 1;
  for (uint64_t i = 0; i < rank && kind != 2; ++i) {
    if (!Multiply(*points, LittleEndian(b, dims_at + i * sizes.length, sizes.length), points)) {
      return "a dataspace's size overflows";
    }
  }
  return "";
}

std::string DecodeAttribute(const std::string& m, const AddressSizes& sizes,
                            RawAttribute* attribute) {
  if (m.size() < 8) return "an attribute message is truncated";
  const int version = uint8_t(m[0]);
  if (version < 1 || version > 3) return "an attribute message of unknown version";
  if (version >= 2 && (uint8_t(m[1]) & 0x03) != 0) {
    return "an attribute with a shared datatype or dataspace (not read by this reader)";
  }
  auto pad = [&](uint64_t n) { return version == 1 ? RoundUp8(n) : n; };
  const uint64_t name_size = LittleEndian(m, 2, 2);
  const uint64_t type_at = (version == 3 ? 9 : 8) + pad(name_size);
  const uint64_t space_at = type_at + pad(LittleEndian(m, 4, 2));
  const uint64_t data_at = space_at + pad(LittleEndian(m, 6, 2));
  if (name_size == 0 || data_at > m.size()) return "an attribute message's fields run past it";
  const size_t name_at = version == 3 ? 9 : 8;
  if (m.find('\0', name_at) != name_at + name_size - 1) return "an attribute name of the wrong length";
  attribute->name = m.substr(name_at, name_size - 1);
  std::string why = DecodeDatatype(m, type_at, space_at, sizes, 0, &attribute->type);
  if (why.empty()) why = DecodeDataspace(m, space_at, data_at, sizes, &attribute->points);
  if (!why.empty()) return why;
  uint64_t data_size = 0;
  if (!Multiply(attribute->points, attribute->type.size, &data_size) ||
      data_size > m.size() - data_at) {
    return "its data (" + std::to_string(attribute->points) + " elements) runs past its message";
  }
  attribute->data = m.substr(data_at, data_size);
  return "";
}

}  // namespace shardtrain::storage::keras
