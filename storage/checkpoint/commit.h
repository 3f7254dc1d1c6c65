// Committing a checkpoint written by N ranks (DESIGN.md §4, spec §1.7
// "recommended protocol", node-local variant): every rank r has written and
// fsynced its own data file PREFIX.data-{r:05d}-of-{N:05d} and reported its
// entries; CommitCheckpoint then writes PREFIX.index (temp + fsync + rename +
// directory fsync) and only after that the `checkpoint` state file, which is
// what makes the checkpoint visible. A crash at any earlier point leaves the
// previous checkpoint the latest; SweepUnfinishedCheckpoints removes the
// leftovers at the next start. A failed write (a full disk, a read-only
// directory) deletes its temporary file and fails with the file system's
// error, naming the file, plus what to do (ExplainCheckpointWriteError).
//
// Retention follows tf.train.CheckpointManager (spec §2.4): the state file
// lists the managed checkpoints oldest first with their timestamps; beyond
// max_to_keep the oldest are deleted, except one every
// keep_checkpoint_every_n_hours, which stays on disk unlisted.
// Stateless functions; callers serialize commits of one directory.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "proto/tf/tensor_bundle.pb.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

// One rank's data file: its entries, each with shard_id == rank.
struct CheckpointPart {
  int32_t rank = 0;
  std::vector<std::pair<std::string, tf::BundleEntryProto>> entries;
};

struct RetentionPolicy {
  int max_to_keep = 5;  // negative: keep (and list) every checkpoint
  double keep_checkpoint_every_n_hours = 0;  // 0: off
};

struct CommitResult {
  std::string prefix;                // the committed prefix
  std::vector<std::string> deleted;  // prefixes whose files were removed
};

// Commits `prefix` (a path; its directory holds the state file) made of
// `parts`, one per rank 0..num_shards-1, each with at least one entry (spec
// §1.7: an empty part would make the header's num_shards disagree with the
// data files). Checks that every data file exists; `now` is the timestamp
// recorded (seconds since the epoch).
StatusOr<CommitResult> CommitCheckpoint(FileSystem* fs, const std::string& prefix,
                                        int32_t num_shards, std::vector<CheckpointPart> parts,
                                        const RetentionPolicy& policy, double now);

// `status` of a failed checkpoint write into `dir`, with what to do added
// for a full disk (ResourceExhausted: free space) or an unwritable directory
// (PermissionDenied: make it writable); same code, other errors unchanged.
// For failures before the `checkpoint` state file is replaced, which leave
// the previous checkpoint the latest (the message says so).
Status ExplainCheckpointWriteError(const Status& status, const std::string& dir);

// Deletes, in `dir`, what unfinished saves leave behind: temporary files
// (`*.tempstate*`, `checkpoint.tmp*`) and data files whose prefix has no
// .index. Returns the names deleted.
StatusOr<std::vector<std::string>> SweepUnfinishedCheckpoints(FileSystem* fs,
                                                              const std::string& dir);

// Deletes PREFIX.index and every PREFIX.data-?????-of-????? file.
Status DeleteCheckpointFiles(FileSystem* fs, const std::string& prefix);

// Deletes the checkpoint directory `dir` (files only, no subdirectories): its
// state file first, so that an interrupted deletion lists nothing, then its
// other files and itself; the parent directory is synced.
Status DeleteCheckpointDir(FileSystem* fs, const std::string& dir);

}  // namespace shardtrain::storage
