#include "storage/checkpoint/verify.h"

#include <algorithm>

#include "storage/checkpoint/state_file.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::storage {

Status VerifyCheckpoint(FileSystem* fs, const std::string& prefix) {
  ASSIGN_OR_RETURN(auto reader, BundleReader::Open(fs, prefix));
  return VerifyTensors(*reader, {});
}

Status VerifyTensors(const BundleReader& reader, const std::set<std::string>& skip) {
  for (const std::string& key : reader.Keys()) {
    if (reader.IsPartitioned(key)) continue;  // listed, never read (we do not write slices)
    if (skip.count(key) != 0) continue;
    ASSIGN_OR_RETURN(tf::BundleEntryProto entry, reader.Entry(key));
    if (entry.dtype() == tf::DT_STRING) {
      RETURN_IF_ERROR(reader.ReadStrings(key).status());
    } else {
      RETURN_IF_ERROR(reader.ReadBytes(key).status());
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

}  // namespace shardtrain::storage
