// ShortestDecimal: the shortest decimal text that reads back as the same
// double (Python's repr; "nan", "inf"), for logs and messages that print a
// value exactly.
#pragma once

#include <charconv>
#include <string>

namespace shardtrain {

inline std::string ShortestDecimal(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (error != std::errc()) return "nan";
  return std::string(buffer, end);
}

}  // namespace shardtrain
