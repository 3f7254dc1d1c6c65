// CSV files of numbers, one example per row: the examples `shardtrain predict`
// reads and the outputs it writes.
//
// Contract: ReadCsv splits lines on commas (fields may have surrounding spaces,
// CRLF line ends are accepted, blank lines are skipped) and parses each field
// as a float. A first line with no numeric field is a header and is skipped.
// Every row must have as many fields as the first. Errors name the file and
// line (1-based, as an editor counts):
//   NotFound         the file does not exist;
//   InvalidArgument  a field that is not a number, a row of another length,
//                    or no rows at all.
// ReadCsvWithHeader is the same except that the first non-blank line is always
// the header (column names, numeric or not); a file with only a header is
// InvalidArgument.
// Both fill `header` (the header line's fields; empty when ReadCsv found
// none) and `integer_columns` (per column: every value is spelled as an
// integer, e.g. "3" or "-1", not "3.0"), `integers` (each integer-spelled
// value read exactly as an int64, saturated at the int64 limits; 0 for other
// values) and `line_numbers` (each row's line).
// WriteCsv writes rows x cols floats, `%.9g` (enough to read back the same
// float32), no header; PermissionDenied / DataLoss when it cannot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage {

struct CsvTable {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;      // rows x cols, row-major
  std::vector<int64_t> integers;  // rows x cols, exact where the value is an integer
  std::vector<std::string> header;
  std::vector<bool> integer_columns;
  std::vector<int64_t> line_numbers;  // rows values, 1-based
};

StatusOr<CsvTable> ReadCsv(const std::string& path);
StatusOr<CsvTable> ReadCsvWithHeader(const std::string& path);

Status WriteCsv(const std::string& path, const std::vector<float>& values, int64_t rows,
                int64_t cols);

}  // namespace shardtrain::storage
