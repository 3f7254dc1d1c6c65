#include "storage/checkpoint/commit.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "storage/checkpoint/state_file.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_writer.h"

namespace shardtrain::storage {
namespace {

// "ckpt-5.data-00001-of-00002" → {"ckpt-5", true}.
std::pair<std::string, bool> DataFilePrefix(const std::string& name) {
  size_t at = name.rfind(".data-");
  if (at == std::string::npos) return {"", false};
  std::string rest = name.substr(at + 6);  // "00001-of-00002"
  bool shaped = rest.size() == 14 && rest.compare(5, 4, "-of-") == 0 &&
                std::all_of(rest.begin(), rest.begin() + 5, ::isdigit) &&
                std::all_of(rest.begin() + 9, rest.end(), ::isdigit);
  return {name.substr(0, at), shaped};
}

// Path relative to `dir` when it lies directly inside it (as TF writes it).
std::string RelativeTo(const std::string& dir, const std::string& prefix) {
  if (DirName(prefix) == DirName(JoinPath(dir, "x"))) return BaseName(prefix);
  return prefix;
}

using IndexEntries = std::vector<std::pair<std::string, tf::BundleEntryProto>>;

// The index entries of `parts`, rank by rank, after checking that every rank
// 0..num_shards-1 reported a non-empty part of its own shard and that its data
// file exists.
StatusOr<IndexEntries> CheckedIndexEntries(FileSystem* fs, const std::string& prefix,
                                           int32_t num_shards, std::vector<CheckpointPart> parts) {
  if (num_shards <= 0 || static_cast<int32_t>(parts.size()) != num_shards) {
    return FailedPreconditionError("checkpoint " + prefix + ": " + std::to_string(parts.size()) +
                                   " of " + std::to_string(num_shards) + " ranks reported");
  }
  std::sort(parts.begin(), parts.end(),
            [](const CheckpointPart& a, const CheckpointPart& b) { return a.rank < b.rank; });
  IndexEntries entries;
  for (int32_t r = 0; r < num_shards; ++r) {
    const CheckpointPart& part = parts[static_cast<size_t>(r)];
    const std::string rank = "checkpoint " + prefix + ": rank " + std::to_string(r);
    if (part.rank != r) return FailedPreconditionError(rank + " did not report its part");
    if (part.entries.empty()) {
      return FailedPreconditionError(rank + " reported no tensors (every data file needs one)");
    }
    const std::string data_file = DataFilename(prefix, r, num_shards);
    if (!fs->FileExists(data_file)) {
      return FailedPreconditionError(rank + " reported " + data_file + " but it does not exist");
    }
    for (const auto& [key, entry] : part.entries) {
      if (entry.shard_id() != r) {
        return FailedPreconditionError(rank + " reported key '" + key + "' in shard " +
                                       std::to_string(entry.shard_id()));
      }
      entries.emplace_back(key, entry);
    }
  }
  return entries;
}

// Writes PREFIX.index through a temporary file, renamed into place, with the
// directory synced before (the data files' renames) and after. A failed
// write deletes its temporary file (it may hold the space a full disk needs).
Status WriteIndexAtomically(FileSystem* fs, const std::string& prefix, int32_t num_shards,
                            IndexEntries entries) {
  const std::string dir = DirName(prefix);
  RETURN_IF_ERROR(fs->SyncDir(dir));
  std::random_device random;
  const std::string index = IndexFilename(prefix);
  const std::string temp =
      index + ".tempstate" + std::to_string(random()) + std::to_string(random());
  Status written = WriteBundleIndex(fs, temp, num_shards, std::move(entries));
  if (written.ok()) written = fs->Rename(temp, index);
  if (!written.ok()) {
    if (fs->FileExists(temp)) fs->DeleteFile(temp).IgnoreError();
    return written;
  }
  return fs->SyncDir(dir);
}

// The state file after committing `prefix` (spec §2.4), and the prefixes
// that retention drops from disk.
struct RetainedState {
  tf::CheckpointState state;
  std::vector<std::string> to_delete;
  bool prefix_was_listed = false;  // the previous state file named the committed prefix
};

// The managed list, oldest first: the previous state's entries newer than its
// last preserved timestamp, then `prefix` at `now`; beyond max_to_keep the
// oldest leave the list, and are deleted unless one is due to be preserved.
RetainedState ApplyRetention(FileSystem* fs, const std::string& dir, const std::string& prefix,
                             const RetentionPolicy& policy, double now) {
  tf::CheckpointState old_state;
  double last_preserved = now - 1;
  if (auto read = ReadCheckpointState(fs, dir); read.ok()) {
    old_state = *read;
    last_preserved = old_state.last_preserved_timestamp();
  }
  std::vector<std::pair<std::string, double>> managed;
  const std::string relative = RelativeTo(dir, prefix);
  if (old_state.all_model_checkpoint_timestamps_size() ==
      old_state.all_model_checkpoint_paths_size()) {
    for (int i = 0; i < old_state.all_model_checkpoint_paths_size(); ++i) {
      double timestamp = old_state.all_model_checkpoint_timestamps(i);
      const std::string& path = old_state.all_model_checkpoint_paths(i);
      if (timestamp > last_preserved && path != relative) managed.emplace_back(path, timestamp);
    }
  }
  managed.emplace_back(relative, now);
  RetainedState retained;
  retained.prefix_was_listed = old_state.model_checkpoint_path() == relative;
  for (const std::string& path : old_state.all_model_checkpoint_paths()) {
    retained.prefix_was_listed |= path == relative;
  }
  if (policy.max_to_keep > 0) {
    while (static_cast<int>(managed.size()) > policy.max_to_keep) {
      auto [path, timestamp] = managed.front();
      managed.erase(managed.begin());
      if (policy.keep_checkpoint_every_n_hours > 0 &&
          timestamp - last_preserved >= policy.keep_checkpoint_every_n_hours * 3600.0) {
        last_preserved = timestamp;  // kept on disk, no longer listed
      } else {
        retained.to_delete.push_back(ResolveCheckpointPath(dir, path));
      }
    }
  }
  retained.state.set_model_checkpoint_path(relative);
  for (const auto& [path, timestamp] : managed) {
    retained.state.add_all_model_checkpoint_paths(path);
    retained.state.add_all_model_checkpoint_timestamps(timestamp);
  }
  retained.state.set_last_preserved_timestamp(last_preserved);
  return retained;
}

}  // namespace

Status ExplainCheckpointWriteError(const Status& status, const std::string& dir) {
  const std::string kept = "; the previous checkpoint is still the latest";
  switch (status.code()) {
    case StatusCode::kResourceExhausted:
      return Status(status.code(), status.message() + " — the disk holding " + dir +
                                       " is full: free space there (or lower "
                                       "checkpoint.max_to_keep) and run again to resume" +
                                       kept);
    case StatusCode::kPermissionDenied:
      return Status(status.code(), status.message() + " — " + dir +
                                       " is not writable (a read-only file system or its "
                                       "permissions): make it writable or pass another "
                                       "--run-dir" +
                                       kept);
    default:
      return status;
  }
}

Status DeleteCheckpointFiles(FileSystem* fs, const std::string& prefix) {
  const std::string dir = DirName(prefix), base = BaseName(prefix);
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  for (const std::string& name : names) {
    auto [data_prefix, shaped] = DataFilePrefix(name);
    if (name == base + ".index" || (shaped && data_prefix == base)) {
      RETURN_IF_ERROR(fs->DeleteFile(JoinPath(dir, name)));
    }
  }
  return OkStatus();
}

Status DeleteCheckpointDir(FileSystem* fs, const std::string& dir) {
  const std::string state = JoinPath(dir, kCheckpointStateFile);
  if (fs->FileExists(state)) {
    RETURN_IF_ERROR(fs->DeleteFile(state));
    RETURN_IF_ERROR(fs->SyncDir(dir));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  for (const std::string& name : names) RETURN_IF_ERROR(fs->DeleteFile(JoinPath(dir, name)));
  RETURN_IF_ERROR(fs->DeleteDir(dir));
  return fs->SyncDir(DirName(dir));
}

StatusOr<CommitResult> CommitCheckpoint(FileSystem* fs, const std::string& prefix,
                                        int32_t num_shards, std::vector<CheckpointPart> parts,
                                        const RetentionPolicy& policy, double now) {
  ASSIGN_OR_RETURN(IndexEntries entries,
                   CheckedIndexEntries(fs, prefix, num_shards, std::move(parts)));
  const std::string dir = DirName(prefix);
  RETURN_IF_ERROR(ExplainCheckpointWriteError(
      WriteIndexAtomically(fs, prefix, num_shards, std::move(entries)), dir));
  RetainedState retained = ApplyRetention(fs, dir, prefix, policy, now);
  if (Status state = WriteCheckpointState(fs, dir, retained.state); !state.ok()) {
    // The state file still names the previous latest, so nothing would ever list (or
    // retire) the new files: delete them rather than hold space on a full disk, unless
    // it lists this name (a reused one): then they are its complete, checked files.
    if (!retained.prefix_was_listed) DeleteCheckpointFiles(fs, prefix).IgnoreError();
    return ExplainCheckpointWriteError(state, dir);
  }
  // Deleted only once the state file no longer lists them.
  CommitResult result;
  result.prefix = prefix;
  for (const std::string& old_prefix : retained.to_delete) {
    RETURN_IF_ERROR(DeleteCheckpointFiles(fs, old_prefix));
    result.deleted.push_back(old_prefix);
  }
  if (!retained.to_delete.empty()) RETURN_IF_ERROR(fs->SyncDir(dir));
  return result;
}

StatusOr<std::vector<std::string>> SweepUnfinishedCheckpoints(FileSystem* fs,
                                                              const std::string& dir) {
  std::vector<std::string> deleted;
  if (!fs->IsDirectory(dir)) return deleted;
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(dir));
  for (const std::string& name : names) {
    bool temporary = name.find(".tempstate") != std::string::npos ||
                     name.rfind(std::string(kCheckpointStateFile) + ".tmp", 0) == 0;
    auto [data_prefix, shaped] = DataFilePrefix(name);
    bool orphan = shaped && !fs->FileExists(JoinPath(dir, data_prefix + ".index"));
    if (temporary || orphan) {
      RETURN_IF_ERROR(fs->DeleteFile(JoinPath(dir, name)));
      deleted.push_back(name);
    }
  }
  if (!deleted.empty()) RETURN_IF_ERROR(fs->SyncDir(dir));
  return deleted;
}

}  // namespace shardtrain::storage
