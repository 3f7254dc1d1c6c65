// JSON text pieces for the coordinator's hand-written documents (/status and
// the status page's history): quoted strings and finite-or-null numbers.
// Pure inline functions; thread-safe.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace shardtrain::coordinator {

// JSON string with quotes, backslashes and control characters escaped.
inline std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", static_cast<unsigned>(c));
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A JSON number with `significant` digits; null for NaN and infinities (not
// representable in JSON).
inline std::string JsonNumber(double value, int significant = 6) {
  if (!std::isfinite(value)) return "null";
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%.*g", significant, value);
  return buffer;
}

}  // namespace shardtrain::coordinator
