#include "storage/checkpoint/verify.h"

#include <algorithm>

#include "storage/checkpoint/state_file.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::storage {

Status VerifyCheckpoint(FileSystem* fs, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(fs, prefix));
  for (const std::string& key : reader->Keys()) {
    if (reader->IsPartitioned(key)) continue;  // listed, never read (we do not write slices)
    ASSIGN_OR_RETURN(tf::BundleEntryProto entry, reader->Entry(key));
    if (entry.dtype() == tf::DT_STRING) {
      auto strings = reader->ReadStrings(key);
      if (!strings.ok()) return strings.status();
    } else {
      auto bytes = reader->ReadBytes(key);
      if (!bytes.ok()) return bytes.status();
    }
  }
  return OkStatus();
}

StatusOr<std::vector<std::string>> CheckpointCandidates(FileSystem* fs, const std::string& dir) {
  ASSIGN_OR_RETURN(tf::CheckpointState state, ReadCheckpointState(fs, dir));
  std::vector<std::string> candidates = {ResolveCheckpointPath(dir, state.model_checkpoint_path())};
  for (int i = state.all_model_checkpoint_paths_size(); i-- > 0;) {
    std::string prefix = ResolveCheckpointPath(dir, state.all_model_checkpoint_paths(i));
    if (std::find(candidates.begin(), candidates.end(), prefix) == candidates.end()) {
      candidates.push_back(std::move(prefix));
    }
  }
  return candidates;
}

StatusOr<IntactCheckpoint> NewestIntactCheckpoint(FileSystem* fs, const std::string& dir) {
  IntactCheckpoint result;
  if (!fs->FileExists(JoinPath(dir, kCheckpointStateFile))) return result;
  ASSIGN_OR_RETURN(std::vector<std::string> candidates, CheckpointCandidates(fs, dir));
  for (const std::string& prefix : candidates) {
    Status verified = VerifyCheckpoint(fs, prefix);
    if (verified.ok()) {
      result.prefix = prefix;
      return result;
    }
    result.skipped.push_back(prefix + ": " + verified.ToString());
  }
  std::string all;
  for (const std::string& s : result.skipped) all += "\n  " + s;
  return DataLossError("no intact checkpoint in " + dir + ":" + all +
                       "\n(--no-resume starts afresh; nothing was deleted)");
}

}  // namespace shardtrain::storage
