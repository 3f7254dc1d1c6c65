// Fuzzes the array readers of `shardtrain data prepare` and `predict`
// (storage/arrays): the input is parsed as a typed .npy (ParseNpy), written to
// a scratch file and read as a predict .npy (ReadNpy), as an .npz archive
// (array "x", through libzip) and as CSV (ReadCsv, ReadCsvWithHeader). What a
// reader returns must be consistent: as many data bytes or values as the shape
// or rows x cols say, a header, integer-column flag per column and a line
// number per row; an .npy of float32 or uint8 that ParseNpy accepts ReadNpy
// accepts with the same shape. Traps otherwise.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "storage/arrays/csv_file.h"
#include "storage/arrays/npy_data.h"
#include "storage/arrays/npy_file.h"
#include "storage/arrays/npz_file.h"

namespace st = shardtrain::storage;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void CheckNpyData(const st::NpyData& array) {
  Check(!array.shape.empty());
  int64_t values = 1;
  for (int64_t dim : array.shape) {
    Check(dim >= 0 && !__builtin_mul_overflow(values, dim, &values));
  }
  Check(array.rows() * array.row_size() == values);
  Check(array.data.size() == static_cast<size_t>(values) * array.item_size());
  Check(!array.dtype_name().empty() && !st::NpyShapeString(array.shape).empty());
  if (values == 0) return;
  (void)array.ValueAsDouble(0);
  (void)array.ValueAsDouble(values - 1);
  if (array.is_integer()) (void)array.ValueAsInt64(values - 1);
}

void CheckCsv(const st::CsvTable& table) {
  Check(table.rows > 0 && table.cols > 0);
  Check(table.values.size() == static_cast<size_t>(table.rows * table.cols));
  Check(table.line_numbers.size() == static_cast<size_t>(table.rows));
  Check(table.integer_columns.size() == static_cast<size_t>(table.cols));
  Check(table.header.empty() || table.header.size() == static_cast<size_t>(table.cols));
}

void FuzzNpy(const std::string& input) {
  auto parsed = st::ParseNpy("fuzz.npy", input);
  if (parsed.ok()) CheckNpyData(*parsed);
  const std::string path = shardtrain::fuzz::WriteScratchFile("fuzz.npy", input);
  auto read = st::ReadNpy(path);
  if (read.ok()) {
    const size_t values = static_cast<size_t>(read->rows() * read->row_size());
    Check(read->floats.size() + read->bytes.size() == values);
  }
  if (parsed.ok() && (parsed->dtype == st::NpyData::DType::kFloat32 ||
                      parsed->dtype == st::NpyData::DType::kUint8)) {
    Check(read.ok() && read->shape == parsed->shape);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = shardtrain::fuzz::AsString(data, size);
  FuzzNpy(input);

  const std::string npz = shardtrain::fuzz::WriteScratchFile("fuzz.npz", input);
  auto member = st::ReadNpzArray(npz, "x");
  if (member.ok()) CheckNpyData(*member);

  const std::string csv = shardtrain::fuzz::WriteScratchFile("fuzz.csv", input);
  for (auto read : {st::ReadCsv, st::ReadCsvWithHeader}) {
    auto table = read(csv);
    if (table.ok()) CheckCsv(*table);
  }
  return 0;
}
