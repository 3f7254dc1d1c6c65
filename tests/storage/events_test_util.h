// Test-only reader of TensorBoard event files, written from
// shared/spec/tfrecord-events-idx.md §1 and §3 without using any shardtrain
// code: its own bit-at-a-time CRC-32C and masking, its own TFRecord framing and
// a hand-written protobuf wire-format decoder for Event / Summary / Value /
// TensorProto / SummaryMetadata. Used to check that the files our writer makes
// are what TensorBoard expects. Failures are reported as gtest failures.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace shardtrain::testing {

inline uint32_t SpecCrc32c(const std::string& bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    c ^= byte;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
  }
  c ^= 0xFFFFFFFFu;
  return ((c >> 15) | (c << 17)) + 0xA282EAD8u;  // masked
}

inline uint64_t LittleEndian(const std::string& bytes, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// The records of a TFRecord file; adds a gtest failure (and returns what was
// read before it) on a CRC mismatch or truncation.
inline std::vector<std::string> SpecReadTfRecords(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  size_t at = 0;
  while (at < file.size()) {
    if (file.size() - at < 12) {
      ADD_FAILURE() << path << ": truncated length at byte " << at;
      break;
    }
    const uint64_t length = LittleEndian(file, at, 8);
    if (SpecCrc32c(file.substr(at, 8)) != LittleEndian(file, at + 8, 4)) {
      ADD_FAILURE() << path << ": bad length CRC at byte " << at;
      break;
    }
    if (file.size() - at - 12 < length + 4) {
      ADD_FAILURE() << path << ": truncated record at byte " << at;
      break;
    }
    std::string data = file.substr(at + 12, length);
    if (SpecCrc32c(data) != LittleEndian(file, at + 12 + length, 4)) {
      ADD_FAILURE() << path << ": bad data CRC at byte " << at;
      break;
    }
    records.push_back(std::move(data));
    at += 12 + length + 4;
  }
  return records;
}

// One protobuf field: number, wire type and its payload (varint value,
// fixed bits, or the bytes of a length-delimited field).
struct WireField {
  int number = 0;
  int wire_type = 0;
  uint64_t value = 0;  // varint, fixed32 or fixed64 bits
  std::string bytes;   // length-delimited payload
};

// Decodes a message into its fields, in order; nullopt when malformed.
inline std::optional<std::vector<WireField>> SpecDecodeMessage(const std::string& message) {
  std::vector<WireField> fields;
  size_t at = 0;
  auto varint = [&](uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= message.size()) return false;
      const unsigned char b = static_cast<unsigned char>(message[at++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  };
  while (at < message.size()) {
    uint64_t key = 0;
    if (!varint(&key)) return std::nullopt;
    WireField f;
    f.number = static_cast<int>(key >> 3);
    f.wire_type = static_cast<int>(key & 7);
    switch (f.wire_type) {
      case 0:
        if (!varint(&f.value)) return std::nullopt;
        break;
      case 1:
        if (message.size() - at < 8) return std::nullopt;
        f.value = LittleEndian(message, at, 8);
        at += 8;
        break;
      case 5:
        if (message.size() - at < 4) return std::nullopt;
        f.value = LittleEndian(message, at, 4);
        at += 4;
        break;
      case 2: {
        uint64_t length = 0;
        if (!varint(&length) || message.size() - at < length) return std::nullopt;
        f.bytes = message.substr(at, length);
        at += length;
        break;
      }
      default:
        return std::nullopt;
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

inline double BitsToDouble(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof(d));
  return d;
}

inline float BitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// One Event as the spec describes it.
struct SpecEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;  // set on the first record
  bool has_summary = false;
  // The summary's (single, for our files) value:
  std::string tag;
  std::optional<float> value;  // from simple_value or the tensor's float_val
  int tensor_dtype = 0;
  bool tensor_shape_is_scalar = false;
  std::string plugin_name;
};

// Decodes an Event record; a gtest failure when it is malformed.
inline SpecEvent SpecDecodeEvent(const std::string& record) {
  SpecEvent e;
  auto fields = SpecDecodeMessage(record);
  if (!fields) {
    ADD_FAILURE() << "malformed Event";
    return e;
  }
  for (const WireField& f : *fields) {
    if (f.number == 1 && f.wire_type == 1) e.wall_time = BitsToDouble(f.value);
    if (f.number == 2 && f.wire_type == 0) e.step = static_cast<int64_t>(f.value);
    if (f.number == 3 && f.wire_type == 2) e.file_version = f.bytes;
    if (f.number != 5 || f.wire_type != 2) continue;
    e.has_summary = true;
    auto summary = SpecDecodeMessage(f.bytes);
    if (!summary) {
      ADD_FAILURE() << "malformed Summary";
      return e;
    }
    int values = 0;
    for (const WireField& s : *summary) {
      if (s.number != 1 || s.wire_type != 2) continue;
      ++values;
      auto value = SpecDecodeMessage(s.bytes);
      if (!value) {
        ADD_FAILURE() << "malformed Summary.Value";
        return e;
      }
      for (const WireField& v : *value) {
        if (v.number == 1 && v.wire_type == 2) e.tag = v.bytes;
        if (v.number == 2 && v.wire_type == 5) e.value = BitsToFloat(static_cast<uint32_t>(v.value));
        if (v.number == 8 && v.wire_type == 2) {  // TensorProto
          auto tensor = SpecDecodeMessage(v.bytes);
          if (!tensor) {
            ADD_FAILURE() << "malformed TensorProto";
            return e;
          }
          e.tensor_shape_is_scalar = true;  // absent shape = scalar
          for (const WireField& t : *tensor) {
            if (t.number == 1 && t.wire_type == 0) e.tensor_dtype = static_cast<int>(t.value);
            if (t.number == 2 && t.wire_type == 2) {
              auto shape = SpecDecodeMessage(t.bytes);
              for (const WireField& d : shape.value_or(std::vector<WireField>{})) {
                if (d.number == 2) e.tensor_shape_is_scalar = false;  // has a dim
              }
            }
            if (t.number == 5 && t.wire_type == 2 && t.bytes.size() == 4) {  // packed
              e.value = BitsToFloat(static_cast<uint32_t>(LittleEndian(t.bytes, 0, 4)));
            }
            if (t.number == 5 && t.wire_type == 5) {  // unpacked
              e.value = BitsToFloat(static_cast<uint32_t>(t.value));
            }
          }
        }
        if (v.number == 9 && v.wire_type == 2) {  // SummaryMetadata
          auto metadata = SpecDecodeMessage(v.bytes);
          for (const WireField& m : metadata.value_or(std::vector<WireField>{})) {
            if (m.number != 1 || m.wire_type != 2) continue;
            auto plugin = SpecDecodeMessage(m.bytes);
            for (const WireField& p : plugin.value_or(std::vector<WireField>{})) {
              if (p.number == 1 && p.wire_type == 2) e.plugin_name = p.bytes;
            }
          }
        }
      }
    }
    EXPECT_EQ(values, 1) << "expected one value per summary";
  }
  return e;
}

// All events of the file at `path`.
inline std::vector<SpecEvent> SpecReadEventFile(const std::string& path) {
  std::vector<SpecEvent> events;
  for (const std::string& record : SpecReadTfRecords(path)) {
    events.push_back(SpecDecodeEvent(record));
  }
  return events;
}

}  // namespace shardtrain::testing
