// Reads and writes NumPy .npy files. See npy_file.h.
#include "storage/arrays/npy_file.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

namespace shardtrain::storage {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

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

// Fills dtype and shape of `array` from the header dict text.
Status ParseHeader(const std::string& path, const std::string& header, NpyArray* array) {
  auto bad = [&](const std::string& what) {
    return DataLossError(path + ": not a valid .npy header (" + what + "): " + header);
  };
  const auto descr = HeaderValue(header, "descr");
  const auto fortran = HeaderValue(header, "fortran_order");
  const auto shape_text = HeaderValue(header, "shape");
  if (!descr || !fortran || !shape_text) return bad("needs descr, fortran_order and shape");
  if (descr->rfind("'<f4'", 0) == 0) {
    array->dtype = NpyArray::DType::kFloat32;
  } else if (descr->rfind("'|u1'", 0) == 0 || descr->rfind("'<u1'", 0) == 0) {
    array->dtype = NpyArray::DType::kUint8;
  } else {
    return InvalidArgumentError(path + ": dtype " + descr->substr(0, descr->find(',')) +
                                " is not supported; save float32 ('<f4') or uint8 ('|u1')");
  }
  if (fortran->rfind("True", 0) == 0) {
    return InvalidArgumentError(path +
                                ": Fortran-order arrays are not supported; save with "
                                "np.ascontiguousarray");
  }
  if (fortran->rfind("False", 0) != 0) return bad("fortran_order is neither True nor False");
  auto shape = ParseShape(*shape_text);
  if (!shape) return bad("shape is not a tuple of sizes");
  if (shape->empty()) return InvalidArgumentError(path + ": a 0-d array holds no examples");
  array->shape = std::move(*shape);
  return OkStatus();
}

// The header length field and the header text after the magic and version.
StatusOr<std::string> ReadHeader(const std::string& path, const std::string& data,
                                 size_t* data_start) {
  if (data.size() < kMagicSize + 4 || data.compare(0, kMagicSize, kMagic) != 0) {
    return DataLossError(path + ": not a .npy file (no \\x93NUMPY magic)");
  }
  const auto byte = [&](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(data[i])); };
  const int major = static_cast<int>(byte(6));
  size_t length = 0, start = 0;
  if (major == 1) {
    length = byte(8) | byte(9) << 8;
    start = 10;
  } else if ((major == 2 || major == 3) && data.size() >= 12) {
    length = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    start = 12;
  } else {
    return DataLossError(path + ": unsupported .npy format version " + std::to_string(major));
  }
  if (data.size() < start + length) return DataLossError(path + ": the .npy header is truncated");
  *data_start = start + length;
  return data.substr(start, length);
}

}  // namespace

int64_t NpyArray::row_size() const {
  int64_t size = 1;
  for (size_t i = 1; i < shape.size(); ++i) size *= shape[i];
  return size;
}

std::string NpyArray::ShapeString() const {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

StatusOr<NpyArray> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot open " + path);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t start = 0;
  ASSIGN_OR_RETURN(const std::string header, ReadHeader(path, data, &start));
  NpyArray array;
  RETURN_IF_ERROR(ParseHeader(path, header, &array));
  const size_t element = array.dtype == NpyArray::DType::kFloat32 ? sizeof(float) : 1;
  const size_t row_bytes = static_cast<size_t>(array.row_size()) * element;
  const size_t needed = static_cast<size_t>(array.rows()) * row_bytes;
  const size_t held = data.size() - start;
  if (held != needed) {
    const std::string where =
        held < needed && row_bytes > 0
            ? "; row " + std::to_string(held / row_bytes) + " (0-based) is incomplete"
            : "";
    return DataLossError(path + ": shape " + array.ShapeString() + " needs " +
                         std::to_string(needed) + " bytes of data, the file holds " +
                         std::to_string(held) + where);
  }
  if (array.dtype == NpyArray::DType::kFloat32) {
    array.floats.resize(needed / sizeof(float));
    std::memcpy(array.floats.data(), data.data() + start, needed);
  } else {
    array.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(start), data.end());
  }
  return array;
}

Status WriteNpy(const std::string& path, const std::vector<float>& values, int64_t rows,
                int64_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return PermissionDeniedError("cannot write " + path);
  const uint16_t length = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(length & 0xff));
  out.put(static_cast<char>(length >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) return DataLossError("writing " + path + " failed (disk full?)");
  return OkStatus();
}

}  // namespace shardtrain::storage
