// A small JSON reader for request bodies on the serving hot path: one pass,
// numbers parsed with std::from_chars, and TF Serving's extensions (the bare
// tokens NaN, Infinity and -Infinity) understood natively. Nesting is limited
// to 64 levels; any malformed input is an InvalidArgument naming the byte
// offset. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace shardtrain::serving {

struct JsonMember;

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;           // every number (NaN/Infinity included)
  bool is_integer = false;     // written without '.', exponent or special token
  int64_t integer = 0;         // when is_integer
  std::string text;            // strings
  std::vector<JsonValue> items;                              // arrays
  // Arrays whose elements are all numbers keep them here instead of in
  // `items` (the common case of tensor bodies, parsed without a node each).
  std::vector<double> numbers;
  bool numbers_are_integers = true;  // every element of `numbers` was an exact integer
  std::vector<JsonMember> members;                           // objects, in order

  bool is_array() const { return kind == Kind::kArray; }
  // Elements of an array, whichever way they are stored.
  size_t size() const { return items.size() + numbers.size(); }
  bool is_object() const { return kind == Kind::kObject; }
  // The member named `key`, or null.
  const JsonValue* Find(const std::string& key) const;
  // Short JSON text for error messages (at most ~80 characters).
  std::string Brief() const;
};

// One member of an object. A struct rather than std::pair, which may not
// hold JsonValue while JsonValue is still incomplete (clang rejects it).
struct JsonMember {
  std::string key;
  JsonValue value;
};

StatusOr<JsonValue> ParseJson(std::string_view text);

}  // namespace shardtrain::serving
