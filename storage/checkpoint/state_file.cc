#include "storage/checkpoint/state_file.h"

#include <google/protobuf/text_format.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <random>

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

// Python's repr(float): the shortest string that reads back as the same double.
std::string PythonRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, end);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string RandomHex32() {
  std::random_device device;
  std::mt19937_64 engine((static_cast<uint64_t>(device()) << 32) ^ device());
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx", static_cast<unsigned long long>(engine()),
                static_cast<unsigned long long>(engine()));
  return hex;
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
  {
    ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(temp_path));
    RETURN_IF_ERROR(file->Append(FormatCheckpointState(state)));
    RETURN_IF_ERROR(file->Sync());
    RETURN_IF_ERROR(file->Close());
  }
  RETURN_IF_ERROR(fs->Rename(temp_path, final_path));
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
