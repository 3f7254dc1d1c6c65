// Parses NumPy .npy bytes into typed data. See npy_data.h.
#include "storage/arrays/npy_data.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

namespace shardtrain::storage {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DTypeInfo {
  const char* descr;
  NpyData::DType dtype;
  size_t size;
  const char* name;
};

// '<' and '|' are both little-endian (or byte-order free) on disk.
constexpr DTypeInfo kDTypes[] = {
    {"|b1", NpyData::DType::kBool, 1, "bool"},
    {"|u1", NpyData::DType::kUint8, 1, "uint8"},
    {"<u1", NpyData::DType::kUint8, 1, "uint8"},
    {"|i1", NpyData::DType::kInt8, 1, "int8"},
    {"<i1", NpyData::DType::kInt8, 1, "int8"},
    {"<i4", NpyData::DType::kInt32, 4, "int32"},
    {"<i8", NpyData::DType::kInt64, 8, "int64"},
    {"<f4", NpyData::DType::kFloat32, 4, "float32"},
    {"<f8", NpyData::DType::kFloat64, 8, "float64"},
};

const DTypeInfo& InfoOf(NpyData::DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  return kDTypes[0];
}

// The text after `'key':` in a header dict, with leading spaces removed;
// nullopt when the key is absent.
std::optional<std::string> HeaderValue(const std::string& header, const std::string& key) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) return std::nullopt;
  size_t pos = header.find(':', at);
  if (pos == std::string::npos) return std::nullopt;
  pos = header.find_first_not_of(' ', pos + 1);
  if (pos == std::string::npos) return std::nullopt;
  return header.substr(pos);
}

// Parses "(3, 28, 28)" (also "(3,)" and "()") at the start of `text`.
std::optional<std::vector<int64_t>> ParseShape(const std::string& text) {
  if (text.empty() || text[0] != '(') return std::nullopt;
  const size_t close = text.find(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<int64_t> shape;
  size_t pos = 1;
  while (pos < close) {
    pos = text.find_first_not_of(' ', pos);
    if (pos >= close) break;
    size_t used = 0;
    try {
      shape.push_back(std::stoll(text.substr(pos, close - pos), &used));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (shape.back() < 0) return std::nullopt;
    pos = text.find_first_not_of(' ', pos + used);
    if (pos < close && text[pos] != ',') return std::nullopt;
    ++pos;
  }
  return shape;
}

// The quoted descr string ("<f4") at the start of `text`; empty when unquoted.
std::string QuotedDescr(const std::string& text) {
  if (text.empty() || text[0] != '\'') return "";
  const size_t close = text.find('\'', 1);
  return close == std::string::npos ? "" : text.substr(1, close - 1);
}

constexpr char kAllDTypesAdvice[] =
    "save bool, uint8, int8, int32, int64, float32 or float64, little-endian (e.g. "
    "x.astype('<f4'))";

// Fills dtype, descr and shape of `array` from the header dict text.
Status ParseHeader(const std::string& name, const std::string& header,
                   const std::vector<NpyData::DType>& accepted, const std::string& advice,
                   NpyData* array) {
  auto bad = [&](const std::string& what) {
    return DataLossError(name + ": not a valid .npy header (" + what + "): " + header);
  };
  const auto descr = HeaderValue(header, "descr");
  const auto fortran = HeaderValue(header, "fortran_order");
  const auto shape_text = HeaderValue(header, "shape");
  if (!descr || !fortran || !shape_text) return bad("needs descr, fortran_order and shape");
  array->descr = QuotedDescr(*descr);
  const DTypeInfo* info = nullptr;
  for (const DTypeInfo& candidate : kDTypes) {
    if (array->descr != candidate.descr) continue;
    for (NpyData::DType dtype : accepted) {
      if (dtype == candidate.dtype) info = &candidate;
    }
  }
  if (info == nullptr) {
    return InvalidArgumentError(name + ": dtype " + descr->substr(0, descr->find(',')) +
                                " is not supported; " + advice);
  }
  array->dtype = info->dtype;
  if (fortran->rfind("True", 0) == 0) {
    return InvalidArgumentError(name +
                                ": Fortran-order arrays are not supported; save with "
                                "np.ascontiguousarray");
  }
  if (fortran->rfind("False", 0) != 0) return bad("fortran_order is neither True nor False");
  auto shape = ParseShape(*shape_text);
  if (!shape) return bad("shape is not a tuple of sizes");
  if (shape->empty()) return InvalidArgumentError(name + ": a 0-d array holds no examples");
  // One row's bytes must fit in int64 even when there are no rows, so that
  // row_size() and offsets computed from it cannot overflow.
  int64_t row_bytes = static_cast<int64_t>(info->size);
  for (size_t i = 1; i < shape->size(); ++i) {
    if (__builtin_mul_overflow(row_bytes, (*shape)[i], &row_bytes)) {
      return DataLossError(name + ": shape " + NpyShapeString(*shape) +
                           " has rows of more than 2^63 bytes");
    }
  }
  array->shape = std::move(*shape);
  return OkStatus();
}

// The header text after the magic and version; `*data_start` is where data begins.
StatusOr<std::string> ReadHeader(const std::string& name, const std::string& bytes,
                                 size_t* data_start) {
  if (bytes.size() < kMagicSize + 4 || bytes.compare(0, kMagicSize, kMagic) != 0) {
    return DataLossError(name + ": not a .npy file (no \\x93NUMPY magic)");
  }
  const auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(bytes[i])); };
  const int major = static_cast<int>(byte(6));
  size_t length = 0, start = 0;
  if (major == 1) {
    length = byte(8) | byte(9) << 8;
    start = 10;
  } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
    length = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    start = 12;
  } else {
    return DataLossError(name + ": unsupported .npy format version " + std::to_string(major));
  }
  if (bytes.size() < start + length) return DataLossError(name + ": the .npy header is truncated");
  *data_start = start + length;
  return bytes.substr(start, length);
}

// DataLoss unless the data after the header is exactly what the shape needs.
Status CheckDataSize(const std::string& name, const NpyData& array, size_t held) {
  uint64_t row_bytes = array.item_size(), needed = 0;
  bool overflow = false;
  for (size_t i = 1; i < array.shape.size(); ++i) {
    overflow |=
        __builtin_mul_overflow(row_bytes, static_cast<uint64_t>(array.shape[i]), &row_bytes);
  }
  overflow |= __builtin_mul_overflow(row_bytes, static_cast<uint64_t>(array.rows()), &needed);
  if (!overflow && held == needed) return OkStatus();
  const std::string where =
      !overflow && held < needed && row_bytes > 0
          ? "; row " + std::to_string(held / row_bytes) + " (0-based) is incomplete"
          : "";
  return DataLossError(name + ": shape " + NpyShapeString(array.shape) + " needs " +
                       (overflow ? std::string("more than 2^64") : std::to_string(needed)) +
                       " bytes of data, the file holds " + std::to_string(held) + where);
}

}  // namespace

int64_t NpyData::row_size() const { return NpyRowSize(shape); }

size_t NpyData::item_size() const { return InfoOf(dtype).size; }

bool NpyData::is_integer() const { return dtype != DType::kFloat32 && dtype != DType::kFloat64; }

std::string NpyData::dtype_name() const { return InfoOf(dtype).name; }

double NpyData::ValueAsDouble(int64_t index) const {
  const char* at = data.data() + static_cast<size_t>(index) * item_size();
  if (dtype == DType::kFloat32) {
    float value;
    std::memcpy(&value, at, sizeof(value));
    return value;
  }
  if (dtype == DType::kFloat64) {
    double value;
    std::memcpy(&value, at, sizeof(value));
    return value;
  }
  return static_cast<double>(ValueAsInt64(index));
}

int64_t NpyData::ValueAsInt64(int64_t index) const {
  const char* at = data.data() + static_cast<size_t>(index) * item_size();
  switch (dtype) {
    case DType::kBool:
      return *at != 0 ? 1 : 0;
    case DType::kUint8:
      return static_cast<uint8_t>(*at);
    case DType::kInt8:
      return static_cast<int8_t>(*at);
    case DType::kInt32: {
      int32_t value;
      std::memcpy(&value, at, sizeof(value));
      return value;
    }
    case DType::kInt64: {
      int64_t value;
      std::memcpy(&value, at, sizeof(value));
      return value;
    }
    default:
      return static_cast<int64_t>(ValueAsDouble(index));
  }
}

int64_t NpyRowSize(const std::vector<int64_t>& shape) {
  int64_t size = 1;
  for (size_t i = 1; i < shape.size(); ++i) size *= shape[i];
  return size;
}

std::string NpyShapeString(const std::vector<int64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

StatusOr<NpyData> ParseNpy(const std::string& name, std::string bytes) {
  std::vector<NpyData::DType> all;
  for (const DTypeInfo& info : kDTypes) all.push_back(info.dtype);
  return ParseNpy(name, std::move(bytes), all, kAllDTypesAdvice);
}

StatusOr<NpyData> ParseNpy(const std::string& name, std::string bytes,
                           const std::vector<NpyData::DType>& accepted, const std::string& advice) {
  size_t start = 0;
  ASSIGN_OR_RETURN(const std::string header, ReadHeader(name, bytes, &start));
  NpyData array;
  RETURN_IF_ERROR(ParseHeader(name, header, accepted, advice, &array));
  RETURN_IF_ERROR(CheckDataSize(name, array, bytes.size() - start));
  bytes.erase(0, start);
  array.data = std::move(bytes);
  return array;
}

StatusOr<NpyData> ReadNpyData(const std::string& path) {
  std::vector<NpyData::DType> all;
  for (const DTypeInfo& info : kDTypes) all.push_back(info.dtype);
  return ReadNpyData(path, all, kAllDTypesAdvice);
}

StatusOr<NpyData> ReadNpyData(const std::string& path, const std::vector<NpyData::DType>& accepted,
                              const std::string& advice) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return DataLossError("reading " + path + " failed");
  return ParseNpy(path, std::move(bytes), accepted, advice);
}

}  // namespace shardtrain::storage
