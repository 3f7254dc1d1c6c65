// shardtrain inspect PREFIX|DIR [--key KEY] [--values] [--verify] [--json]:
// lists a checkpoint's tensors like tf.train.list_variables (key, dtype,
// shape, shard, bytes; sorted); with --key or --values prints the first values
// of tensors after their CRC check; --verify reads every tensor and fails on
// any damage; --json prints the listing as one JSON object.
// A DIR resolves through its `checkpoint` state file (newest checkpoint), or to
// DIR/variables/variables for a SavedModel directory.
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "storage/checkpoint/state_file.h"
#include "storage/checkpoint/verify.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::cli {
namespace {

constexpr char kInspectUsage[] =
    "usage: shardtrain inspect PREFIX|DIR [--key KEY] [--values] [--verify] [--json]\n"
    "\n"
    "Lists the tensors of a TensorFlow checkpoint (tensor bundle): key, dtype and shape\n"
    "per line, sorted, like tf.train.list_variables.\n"
    "\n"
    "  PREFIX      a checkpoint prefix such as train/ckpt-7 (the part before .index)\n"
    "  DIR         a checkpoint directory (its `checkpoint` file names the newest\n"
    "              checkpoint) or a SavedModel directory (uses variables/variables)\n"
    "  --key KEY   print only KEY, with its values\n"
    "  --values    print the values of every tensor\n"
    "  --verify    read every tensor and check every CRC; exit 1 on any problem\n"
    "  --json      print {\"prefix\", \"num_shards\", \"tensors\": [{key, dtype, shape,\n"
    "              shard, offset, bytes}], \"verified\"} instead of the table\n"
    "Values are checked against their CRC first; at most 20 elements are printed.\n";

constexpr int kMaxValues = 20;

// IEEE binary16 → float.
float HalfToFloat(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float value;
  if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    value = mantissa ? NAN : INFINITY;
  } else {
    value = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  }
  return sign ? -value : value;
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

// Shortest text that reads back to the same value (as numpy prints), with a
// ".0" on integral values.
template <typename F>
std::string FormatFloat(F v) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  std::string out(buf, result.ptr);
  if (out.find_first_of(".eninf") == std::string::npos) out += ".0";
  return out;
}

// "(re+imj)" as numpy prints complex numbers.
template <typename F>
std::string FormatComplex(F re, F im) {
  std::string out(1, '(');
  out.append(FormatFloat(re));
  if (!(im < 0)) out.push_back('+');
  out.append(FormatFloat(im));
  out.append("j)");
  return out;
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One element of a POD tensor as text.
std::string FormatElement(int dtype, const char* p) {
  switch (dtype) {
    case 1:
      return FormatFloat(Load<float>(p));
    case 2:
      return FormatFloat(Load<double>(p));
    case 3:
      return std::to_string(Load<int32_t>(p));
    case 4:
      return std::to_string(Load<uint8_t>(p));
    case 5:
      return std::to_string(Load<int16_t>(p));
    case 6:
      return std::to_string(Load<int8_t>(p));
    case 8:
      return FormatComplex(Load<float>(p), Load<float>(p + 4));
    case 9:
      return std::to_string(Load<int64_t>(p));
    case 10:
      return Load<uint8_t>(p) ? "True" : "False";
    case 14:
      return FormatFloat(BFloat16ToFloat(Load<uint16_t>(p)));
    case 17:
      return std::to_string(Load<uint16_t>(p));
    case 18:
      return FormatComplex(Load<double>(p), Load<double>(p + 8));
    case 19:
      return FormatFloat(HalfToFloat(Load<uint16_t>(p)));
    case 22:
      return std::to_string(Load<uint32_t>(p));
    case 23:
      return std::to_string(Load<uint64_t>(p));
    default: {
      // Other fixed-size types (quantized, float8): raw bytes in hex.
      std::string out = "0x";
      char buf[4];
      for (size_t i = 0; i < storage::TfDTypeSize(dtype); ++i) {
        std::snprintf(buf, sizeof(buf), "%02x", static_cast<unsigned char>(p[i]));
        out += buf;
      }
      return out;
    }
  }
}

// A string element, quoted, with non-printable bytes escaped and long ones cut.
std::string FormatString(const std::string& s) {
  constexpr size_t kMaxShown = 64;
  std::string out = "b'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\'' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  out += "'";
  if (s.size() > kMaxShown) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string ShapeString(const tf::BundleEntryProto& entry) {
  std::string out = "[";
  for (int i = 0; i < entry.shape().dim_size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(entry.shape().dim(i).size());
  }
  return out + "]";
}

// The values line of `key` (first kMaxValues elements).
StatusOr<std::string> FormatValues(const storage::BundleReader& reader, const std::string& key,
                                   const tf::BundleEntryProto& entry) {
  std::vector<std::string> items;
  int64_t total = 0;
  const int dtype = static_cast<int>(entry.dtype());
  if (dtype == storage::kBundleDtString) {
    std::vector<std::string> values;
    ASSIGN_OR_RETURN(values, reader.ReadStrings(key));
    total = static_cast<int64_t>(values.size());
    for (size_t i = 0; i < values.size() && i < static_cast<size_t>(kMaxValues); ++i) {
      items.push_back(FormatString(values[i]));
    }
  } else {
    std::string bytes;
    ASSIGN_OR_RETURN(bytes, reader.ReadBytes(key));
    const size_t element_size = storage::TfDTypeSize(dtype);
    total = static_cast<int64_t>(bytes.size() / element_size);
    for (int64_t i = 0; i < total && i < kMaxValues; ++i) {
      items.push_back(FormatElement(dtype, bytes.data() + i * element_size));
    }
  }
  std::string out = entry.shape().dim_size() == 0 && total == 1 ? "" : "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  if (total > kMaxValues) out += ", ...";
  if (out.front() == '[') out += "]";
  if (total > kMaxValues) {
    out += "  (first " + std::to_string(kMaxValues) + " of " + std::to_string(total) + ")";
  }
  return out;
}

// PREFIX_OR_DIR → a checkpoint prefix.
StatusOr<std::string> ResolvePrefix(storage::FileSystem* fs, std::string path) {
  constexpr std::string_view kIndexSuffix = ".index";
  if (path.size() > kIndexSuffix.size() &&
      path.compare(path.size() - kIndexSuffix.size(), kIndexSuffix.size(), kIndexSuffix) == 0) {
    path.resize(path.size() - kIndexSuffix.size());
  }
  if (fs->FileExists(storage::IndexFilename(path))) return path;
  if (fs->IsDirectory(path)) {
    const std::string state_path = storage::JoinPath(path, storage::kCheckpointStateFile);
    if (fs->FileExists(state_path)) {
      tf::CheckpointState state;
      ASSIGN_OR_RETURN(state, storage::ReadCheckpointState(fs, path));
      if (state.model_checkpoint_path().empty()) {
        return DataLossError("'" + state_path +
                             "' names no checkpoint (model_checkpoint_path "
                             "is empty)");
      }
      return storage::ResolveCheckpointPath(path, state.model_checkpoint_path());
    }
    const std::string saved_model = storage::JoinPath(path, "variables/variables");
    if (fs->FileExists(storage::IndexFilename(saved_model))) return saved_model;
    return NotFoundError("'" + path +
                         "' is a directory without a `checkpoint` state file or "
                         "SavedModel variables; pass a checkpoint prefix such as DIR/ckpt-1");
  }
  return NotFoundError("no checkpoint at '" + path + "': neither '" + storage::IndexFilename(path) +
                       "' nor a directory exists (pass the prefix without .index/.data "
                       "suffixes, or a checkpoint directory)");
}

struct InspectFlags {
  std::string path;  // PREFIX|DIR
  std::string key;   // --key
  bool values = false, verify = false, json = false;
  bool help = false;  // -h/--help: print the usage, nothing else
};

StatusOr<InspectFlags> ParseInspectFlags(const std::vector<std::string>& args) {
  InspectFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      flags.help = true;
      return flags;
    } else if (arg == "--key") {
      if (i + 1 >= args.size()) return InvalidArgumentError("--key needs a tensor name");
      flags.key = args[++i];
    } else if (arg.rfind("--key=", 0) == 0) {
      flags.key = arg.substr(6);
    } else if (arg == "--values") {
      flags.values = true;
    } else if (arg == "--verify") {
      flags.verify = true;
    } else if (arg == "--json") {
      flags.json = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return InvalidArgumentError("unknown flag '" + arg + "'\n" + kInspectUsage);
    } else if (flags.path.empty()) {
      flags.path = arg;
    } else {
      return InvalidArgumentError("more than one checkpoint given ('" + flags.path + "', '" + arg +
                                  "')\n" + kInspectUsage);
    }
  }
  if (flags.path.empty()) {
    return InvalidArgumentError(std::string("no checkpoint given\n") + kInspectUsage);
  }
  return flags;
}

// --json: one object with the listing and, with --verify, the verdict.
// Returns `verified`.
Status PrintInspectJson(const storage::BundleReader& reader, const std::string& prefix,
                        const std::vector<std::string>& keys, bool verify, const Status& verified) {
  nlohmann::ordered_json out;
  out["prefix"] = prefix;
  out["num_shards"] = reader.header().num_shards();
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const std::string& k : keys) {
    tf::BundleEntryProto entry;
    ASSIGN_OR_RETURN(entry, reader.Entry(k));
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (const auto& dim : entry.shape().dim()) shape.push_back(dim.size());
    tensors.push_back({{"key", k},
                       {"dtype", storage::TfDTypeName(static_cast<int>(entry.dtype()))},
                       {"shape", shape},
                       {"shard", entry.shard_id()},
                       {"offset", entry.offset()},
                       {"bytes", entry.size()}});
  }
  out["tensors"] = std::move(tensors);
  if (verify) out["verified"] = verified.ok();
  if (!verified.ok()) out["error"] = verified.ToString();
  std::cout << out.dump(2) << std::endl;
  return verified;
}

// The table: a header line (unless one --key is shown), then per tensor key,
// dtype, shape, shard and bytes, followed by its values when `values`.
Status PrintInspectTable(const storage::BundleReader& reader, const std::string& prefix,
                         const std::vector<std::string>& keys, bool single_key, bool values) {
  if (!single_key) {
    std::cout << "# checkpoint " << prefix << " (" << keys.size() << " tensors, "
              << reader.header().num_shards() << " data file"
              << (reader.header().num_shards() == 1 ? "" : "s") << ")\n";
  }
  size_t width = 0;
  for (const std::string& k : keys) width = std::max(width, k.size());
  for (const std::string& k : keys) {
    tf::BundleEntryProto entry;
    ASSIGN_OR_RETURN(entry, reader.Entry(k));
    std::string line = k + std::string(width - k.size() + 2, ' ') +
                       storage::TfDTypeName(static_cast<int>(entry.dtype()));
    line += std::string(line.size() < width + 12 ? width + 12 - line.size() : 1, ' ');
    const std::string shape = ShapeString(entry);
    line += shape + std::string(shape.size() < 14 ? 14 - shape.size() : 1, ' ');
    line += "shard " + std::to_string(entry.shard_id()) + "  " + std::to_string(entry.size()) +
            " bytes";
    if (reader.IsPartitioned(k)) line += "  (partitioned: values unsupported)";
    std::cout << line << "\n";
    if (values && !reader.IsPartitioned(k)) {
      std::string formatted;
      ASSIGN_OR_RETURN(formatted, FormatValues(reader, k, entry));
      std::cout << "    " << formatted << "\n";
    }
  }
  return OkStatus();
}

}  // namespace

Status RunInspect(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(InspectFlags flags, ParseInspectFlags(args));
  if (flags.help) {
    std::cout << kInspectUsage;
    return OkStatus();
  }
  storage::FileSystem* fs = storage::PosixFileSystem();
  std::string prefix;
  ASSIGN_OR_RETURN(prefix, ResolvePrefix(fs, flags.path));
  std::unique_ptr<storage::BundleReader> reader;
  ASSIGN_OR_RETURN(reader, storage::BundleReader::Open(fs, prefix));

  std::vector<std::string> keys;
  bool values = flags.values;
  if (!flags.key.empty()) {
    if (!reader->Contains(flags.key)) {
      return NotFoundError("key '" + flags.key + "' not found in checkpoint '" + prefix +
                           "'; run `shardtrain inspect " + flags.path + "` to list its keys");
    }
    keys.push_back(flags.key);
    values = !flags.json;
  } else {
    keys = reader->Keys();
  }
  // --verify first, so a damaged checkpoint fails before any listing is trusted.
  Status verified = flags.verify ? storage::VerifyCheckpoint(fs, prefix) : OkStatus();
  if (flags.json) return PrintInspectJson(*reader, prefix, keys, flags.verify, verified);
  RETURN_IF_ERROR(PrintInspectTable(*reader, prefix, keys, !flags.key.empty(), values));
  if (flags.verify) {
    if (!verified.ok()) return verified.WithContext("--verify " + prefix);
    std::cout << "verified: every tensor of " << prefix << " matches its CRC32C" << std::endl;
  }
  return OkStatus();
}

}  // namespace shardtrain::cli
