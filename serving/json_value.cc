#include "serving/json_value.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace shardtrain::serving {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  StatusOr<JsonValue> Document() {
    ASSIGN_OR_RETURN(JsonValue value, Value(0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("unexpected text after the JSON value");
    return value;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError("malformed JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool Consume(std::string_view token) {
    if (s_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }

  StatusOr<JsonValue> Value(int depth) {
    if (depth > kMaxDepth) return Error("nested deeper than 64 levels");
    SkipSpace();
    if (pos_ >= s_.size()) return Error("unexpected end of input");
    JsonValue v;
    const char c = s_[pos_];
    if (c == '{') return Object(depth);
    if (c == '[') return Array(depth);
    if (c == '"') {
      v.kind = JsonValue::Kind::kString;
      ASSIGN_OR_RETURN(v.text, String());
      return v;
    }
    if (Consume("true") || Consume("false")) {
      v.kind = JsonValue::Kind::kBool;
      v.boolean = s_[pos_ - 1] == 'e' && s_[pos_ - 2] == 'u';
      return v;
    }
    if (Consume("null")) return v;
    v.kind = JsonValue::Kind::kNumber;
    if (Consume("NaN")) {
      v.number = std::numeric_limits<double>::quiet_NaN();
      return v;
    }
    if (Consume("Infinity")) {
      v.number = std::numeric_limits<double>::infinity();
      return v;
    }
    if (Consume("-Infinity")) {
      v.number = -std::numeric_limits<double>::infinity();
      return v;
    }
    return Number();
  }

  StatusOr<JsonValue> Number() {
    const size_t start = pos_;
    bool integral = true;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '.' || c == 'e' || c == 'E') {
        integral = false;
      } else if (!((c >= '0' && c <= '9') || c == '-' || c == '+')) {
        break;
      }
      ++pos_;
    }
    if (pos_ == start) return Error("expected a value");
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    JsonValue v;
    v.kind = JsonValue::Kind::kNumber;
    if (integral) {
      auto [end, error] = std::from_chars(first, last, v.integer);
      if (error == std::errc() && end == last) {
        v.is_integer = true;
        v.number = static_cast<double>(v.integer);
        return v;
      }
    }
    auto [end, error] = std::from_chars(first, last, v.number);
    if (error != std::errc() || end != last) {
      pos_ = start;
      return Error("bad number '" + std::string(first, static_cast<size_t>(last - first)) + "'");
    }
    return v;
  }

  StatusOr<std::string> String() {
    ++pos_;  // opening quote
    std::string out;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) break;
      const char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Error("short \\u escape");
          unsigned code = 0;
          auto [end, error] = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, code, 16);
          if (error != std::errc() || end != s_.data() + pos_ + 4) return Error("bad \\u escape");
          pos_ += 4;
          if (code >= 0xD800 && code < 0xDC00 && s_.substr(pos_, 2) == "\\u" && pos_ + 6 <= s_.size()) {
            unsigned low = 0;
            std::from_chars(s_.data() + pos_ + 2, s_.data() + pos_ + 6, low, 16);
            if (low >= 0xDC00 && low < 0xE000) {
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
              pos_ += 6;
            }
          }
          // UTF-8 encode.
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          } else {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
          }
          break;
        }
        default: return Error("bad escape \\" + std::string(1, e));
      }
    }
    return Error("unterminated string");
  }

  StatusOr<JsonValue> Array(int depth) {
    ++pos_;
    JsonValue v;
    v.kind = JsonValue::Kind::kArray;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return v;
    }
    constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
    while (true) {
      SkipSpace();
      // A number in a (so far) numeric array is parsed without the generic
      // dispatch; either way the element is a JsonValue until stored.
      const bool number_next =
          v.items.empty() && pos_ < s_.size() &&
          ((s_[pos_] >= '0' && s_[pos_] <= '9') ||
           (s_[pos_] == '-' && pos_ + 1 < s_.size() && s_[pos_ + 1] != 'I'));
      ASSIGN_OR_RETURN(JsonValue item, number_next ? Number() : Value(depth + 1));
      if (item.kind == JsonValue::Kind::kNumber && v.items.empty() &&
          (!item.is_integer || std::fabs(item.number) <= kExactIntegers)) {
        v.numbers.push_back(item.number);
        v.numbers_are_integers = v.numbers_are_integers && item.is_integer;
      } else {  // a mixed array, or an integer beyond 2^53 that must stay exact
        MoveNumbersToItems(&v);
        v.items.push_back(std::move(item));
      }
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return v;
      }
      return Error("expected ',' or ']'");
    }
  }

  // Turns a numeric array's numbers into element nodes (the array turned mixed).
  static void MoveNumbersToItems(JsonValue* v) {
    for (double n : v->numbers) {
      JsonValue number;
      number.kind = JsonValue::Kind::kNumber;
      number.number = n;
      number.is_integer = v->numbers_are_integers;
      // Only exact integers (|n| <= 2^53) were kept as such; casting any other
      // double, e.g. 7.8e80, to int64 would be undefined.
      if (number.is_integer) number.integer = static_cast<int64_t>(n);
      v->items.push_back(std::move(number));
    }
    v->numbers.clear();
  }

  StatusOr<JsonValue> Object(int depth) {
    ++pos_;
    JsonValue v;
    v.kind = JsonValue::Kind::kObject;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return v;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected a member name");
      ASSIGN_OR_RETURN(std::string key, String());
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      ASSIGN_OR_RETURN(JsonValue item, Value(depth + 1));
      v.members.push_back({std::move(key), std::move(item)});
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return v;
      }
      return Error("expected ',' or '}'");
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

const JsonValue* JsonValue::Find(const std::string& key) const {
  for (const auto& [name, value] : members) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::string JsonValue::Brief() const {
  std::string out;
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return boolean ? "true" : "false";
    case Kind::kNumber: {
      if (std::isnan(number)) return "NaN";
      if (std::isinf(number)) return number > 0 ? "Infinity" : "-Infinity";
      char buffer[32];
      auto result = std::to_chars(buffer, buffer + sizeof(buffer), number);
      return std::string(buffer, result.ptr);
    }
    case Kind::kString: out = "\"" + text.substr(0, 60) + (text.size() > 60 ? "...\"" : "\""); return out;
    case Kind::kArray: return "[...] (" + std::to_string(size()) + " items)";
    case Kind::kObject: return "{...} (" + std::to_string(members.size()) + " members)";
  }
  return out;
}

StatusOr<JsonValue> ParseJson(std::string_view text) { return Parser(text).Document(); }

}  // namespace shardtrain::serving
