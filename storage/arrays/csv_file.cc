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

// True when `text` is an optional sign and one or more decimal digits.
bool IsIntegerText(const std::string& text) {
  const size_t digits = text.find_first_not_of("+-") == 1 ? 1 : 0;
  return text.size() > digits && text.find_first_not_of("0123456789", digits) == std::string::npos;
}

// The integer `text` spells, saturated at the int64 limits (a class id
// beyond them is refused by range anyway).
int64_t ParseInteger(const std::string& text) { return std::strtoll(text.c_str(), nullptr, 10); }

// Appends one data line's values to `table` (InvalidArgument naming path:line).
Status AddRow(const std::vector<std::string>& fields, const std::string& path, int64_t line_number,
              CsvTable* table) {
  const std::string where = path + ":" + std::to_string(line_number);
  if (table->cols != 0 && static_cast<int64_t>(fields.size()) != table->cols) {
    return InvalidArgumentError(where + ": row has " + std::to_string(fields.size()) +
                                " values, the first row " + std::to_string(table->cols));
  }
  if (table->integer_columns.empty()) table->integer_columns.assign(fields.size(), true);
  for (size_t i = 0; i < fields.size(); ++i) {
    float value = 0;
    if (!ParseFloat(fields[i], &value)) {
      return InvalidArgumentError(where + ": value " + std::to_string(i + 1) + " '" + fields[i] +
                                  "' is not a number");
    }
    table->values.push_back(value);
    const bool integer = IsIntegerText(fields[i]);
    table->integers.push_back(integer ? ParseInteger(fields[i]) : 0);
    if (!integer) table->integer_columns[i] = false;
  }
  table->cols = static_cast<int64_t>(fields.size());
  table->line_numbers.push_back(line_number);
  ++table->rows;
  return OkStatus();
}

// Reads the table; the first non-blank line is a header when `header_required`
// or when none of its fields is a number.
StatusOr<CsvTable> ReadTable(const std::string& path, bool header_required) {
  std::ifstream in(path);
  if (!in) return NotFoundError("cannot open " + path);
  CsvTable table;
  std::string line;
  bool first = true;
  for (int64_t line_number = 1; std::getline(in, line); ++line_number) {
    if (Trim(line).empty()) continue;
    std::vector<std::string> fields = SplitFields(line);
    if (first) {
      first = false;
      size_t numbers = 0;
      float ignored = 0;
      for (const std::string& field : fields) numbers += ParseFloat(field, &ignored) ? 1 : 0;
      if (header_required || numbers == 0) {
        table.cols = static_cast<int64_t>(fields.size());
        table.header = std::move(fields);
        continue;
      }
    }
    RETURN_IF_ERROR(AddRow(fields, path, line_number, &table));
  }
  if (in.bad()) return DataLossError("reading " + path + " failed");
  if (table.rows == 0) return InvalidArgumentError(path + ": no rows of numbers");
  return table;
}

}  // namespace

StatusOr<CsvTable> ReadCsv(const std::string& path) { return ReadTable(path, false); }

StatusOr<CsvTable> ReadCsvWithHeader(const std::string& path) { return ReadTable(path, true); }

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
