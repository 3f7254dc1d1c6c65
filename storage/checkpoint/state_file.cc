#include "storage/checkpoint/state_file.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>

namespace shardtrain::storage {
namespace {

std::string Quote(const std::string& value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\'': out += "\\'"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char octal[5];
          std::snprintf(octal, sizeof(octal), "\\%03o", c);
          out += octal;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Python's repr(float): the shortest digits that read back as the same double,
// in fixed notation for decimal exponents in [-4, 16) (always with a '.'),
// otherwise as d.ddde+XX with at least two exponent digits.
std::string PythonRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string text(buffer, end);  // "-1.2345e+09"
  const size_t e = text.find('e');
  std::string sign = text[0] == '-' ? "-" : "";
  std::string digits;
  for (size_t i = sign.size(); i < e; ++i) {
    if (text[i] != '.') digits += text[i];
  }
  const int exponent = std::atoi(text.c_str() + e + 1);
  const size_t n = digits.size();
  std::string out = sign;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out.append(digits);
    } else {
      const size_t whole = static_cast<size_t>(exponent) + 1;
      out.append(digits, 0, std::min(whole, n));
      if (whole > n) out.append(whole - n, '0');
      out.push_back('.');
      if (whole < n) {
        out.append(digits, whole, n - whole);
      } else {
        out.push_back('0');
      }
    }
    return out;
  }
  out.push_back(digits[0]);
  if (n > 1) {
    out.push_back('.');
    out.append(digits, 1, n - 1);
  }
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+',
                exponent < 0 ? -exponent : exponent);
  out.append(exp_text);
  return out;
}

std::string RandomHex32() {
  std::random_device device;
  std::mt19937_64 engine((static_cast<uint64_t>(device()) << 32) ^ device());
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx", static_cast<unsigned long long>(engine()),
                static_cast<unsigned long long>(engine()));
  return hex;
}

// Writes `text` to `path` and fsyncs it.
Status WriteDurably(FileSystem* fs, const std::string& path, const std::string& text) {
  ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(path));
  RETURN_IF_ERROR(file->Append(text));
  RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

}  // namespace

std::string FormatCheckpointState(const tf::CheckpointState& state) {
  std::string text = "model_checkpoint_path: " + Quote(state.model_checkpoint_path()) + "\n";
  for (const std::string& path : state.all_model_checkpoint_paths()) {
    text += "all_model_checkpoint_paths: " + Quote(path) + "\n";
  }
  for (double timestamp : state.all_model_checkpoint_timestamps()) {
    text += "all_model_checkpoint_timestamps: " + PythonRepr(timestamp) + "\n";
  }
  if (state.last_preserved_timestamp() != 0) {
    text += "last_preserved_timestamp: " + PythonRepr(state.last_preserved_timestamp()) + "\n";
  }
  return text;
}

StatusOr<tf::CheckpointState> ParseCheckpointState(const std::string& text,
                                                   const std::string& source) {
  tf::CheckpointState state;
  google::protobuf::TextFormat::Parser parser;
  parser.AllowUnknownField(false);
  if (!parser.ParseFromString(text, &state)) {
    return InvalidArgumentError(source + " is not a text-format CheckpointState");
  }
  return state;
}

StatusOr<tf::CheckpointState> ReadCheckpointState(FileSystem* fs, const std::string& dir) {
  const std::string path = JoinPath(dir, kCheckpointStateFile);
  if (!fs->FileExists(path)) return NotFoundError("no checkpoint state file " + path);
  ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path));
  auto state = ParseCheckpointState(text, path);
  if (!state.ok()) {
    return DataLossError(state.status().message() +
                         "; delete it or pass --restore PREFIX to pick a checkpoint");
  }
  if (state->model_checkpoint_path().empty()) {
    return DataLossError(path + " names no checkpoint (model_checkpoint_path is empty)");
  }
  return state;
}

Status WriteCheckpointState(FileSystem* fs, const std::string& dir,
                            const tf::CheckpointState& state) {
  const std::string final_path = JoinPath(dir, kCheckpointStateFile);
  const std::string temp_path = final_path + ".tmp" + RandomHex32();
  Status written = WriteDurably(fs, temp_path, FormatCheckpointState(state));
  if (written.ok()) written = fs->Rename(temp_path, final_path);
  if (!written.ok()) {  // the temporary file may hold the space a full disk needs
    if (fs->FileExists(temp_path)) fs->DeleteFile(temp_path).IgnoreError();
    return written;
  }
  return fs->SyncDir(dir);
}

std::string ResolveCheckpointPath(const std::string& dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  return JoinPath(dir, path);
}

StatusOr<std::string> LatestCheckpoint(FileSystem* fs, const std::string& dir) {
  ASSIGN_OR_RETURN(tf::CheckpointState state, ReadCheckpointState(fs, dir));
  std::string prefix = ResolveCheckpointPath(dir, state.model_checkpoint_path());
  if (!fs->FileExists(prefix + ".index")) {
    return NotFoundError(JoinPath(dir, kCheckpointStateFile) + " names " + prefix +
                         " but " + prefix + ".index does not exist");
  }
  return prefix;
}

}  // namespace shardtrain::storage
