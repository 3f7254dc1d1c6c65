// Reads and writes CSV files of numbers. See csv_file.h.
#include "storage/arrays/csv_file.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace shardtrain::storage {
namespace {

// `field` without surrounding spaces, tabs and a trailing '\r'.
std::string Trim(const std::string& field) {
  const size_t begin = field.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return field.substr(begin, field.find_last_not_of(" \t\r") - begin + 1);
}

std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    fields.push_back(Trim(line.substr(start, comma - start)));
    if (comma == std::string::npos) return fields;
    start = comma + 1;
  }
}

// The float that `text` spells in full; false when it is not a number or
// overflows float (an underflow to a subnormal or zero is kept).
bool ParseFloat(const std::string& text, float* value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *value = std::strtof(text.c_str(), &end);
  return end == text.c_str() + text.size() && !(errno == ERANGE && std::isinf(*value));
}

}  // namespace

StatusOr<CsvTable> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open " + path);
  CsvTable table;
  std::string line;
  for (int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (Trim(line).empty()) continue;
    const std::vector<std::string> fields = SplitFields(line);
    std::vector<float> row(fields.size());
    size_t numbers = 0;
    for (size_t i = 0; i < fields.size(); ++i) numbers += ParseFloat(fields[i], &row[i]) ? 1 : 0;
    const std::string where = path + ":" + std::to_string(line_number);
    if (table.rows == 0 && table.cols == 0 && numbers == 0) {  // a header line
      table.cols = static_cast<int64_t>(fields.size());
      continue;
    }
    if (table.cols != 0 && static_cast<int64_t>(fields.size()) != table.cols) {
      return InvalidArgumentError(where + ": row has " + std::to_string(fields.size()) +
                                  " values, the first row " + std::to_string(table.cols));
    }
    if (numbers != fields.size()) {
      for (size_t i = 0; i < fields.size(); ++i) {
        if (!ParseFloat(fields[i], &row[i])) {
          return InvalidArgumentError(where + ": value " + std::to_string(i + 1) + " '" +
                                      fields[i] + "' is not a number");
        }
      }
    }
    table.cols = static_cast<int64_t>(fields.size());
    table.values.insert(table.values.end(), row.begin(), row.end());
    ++table.rows;
  }
  if (in.bad()) return DataLossError("reading " + path + " failed");
  if (table.rows == 0) return InvalidArgumentError(path + ": no rows of numbers");
  return table;
}

Status WriteCsv(const std::string& path, const std::vector<float>& values, int64_t rows,
                int64_t cols) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return PermissionDeniedError("cannot write " + path);
  char number[32];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      std::snprintf(number, sizeof(number), "%.9g",
                    static_cast<double>(values[static_cast<size_t>(r * cols + c)]));
      if (c > 0) out << ',';
      out << number;
    }
    out << '\n';
  }
  if (!out.flush()) return DataLossError("writing " + path + " failed (disk full?)");
  return OkStatus();
}

}  // namespace shardtrain::storage
