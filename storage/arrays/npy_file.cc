// Reads and writes NumPy .npy files. See npy_file.h.
#include "storage/arrays/npy_file.h"

#include <cstring>
#include <fstream>

#include "storage/arrays/npy_data.h"

namespace shardtrain::storage {

int64_t NpyArray::row_size() const { return NpyRowSize(shape); }

std::string NpyArray::ShapeString() const { return NpyShapeString(shape); }

// Parsing is NpyData's (npy_data.h), limited to the two dtypes predict feeds.
StatusOr<NpyArray> ReadNpy(const std::string& path) {
  ASSIGN_OR_RETURN(NpyData data,
                   ReadNpyData(path, {NpyData::DType::kFloat32, NpyData::DType::kUint8},
                               "save float32 ('<f4') or uint8 ('|u1')"));
  NpyArray array;
  array.shape = std::move(data.shape);
  if (data.dtype == NpyData::DType::kFloat32) {
    array.dtype = NpyArray::DType::kFloat32;
    array.floats.resize(data.data.size() / sizeof(float));
    if (!data.data.empty()) std::memcpy(array.floats.data(), data.data.data(), data.data.size());
  } else {
    array.dtype = NpyArray::DType::kUint8;
    array.bytes.assign(data.data.begin(), data.data.end());
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
