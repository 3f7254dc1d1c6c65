// CheckpointCommitter: the coordinator's half of the two-phase checkpoint
// commit (DESIGN.md §4). Each rank reports its part (CheckpointShardWritten) once its
// data file is durable; rank 0 then asks for the commit (CheckpointCommitRequest),
// which succeeds only when every rank of the job reported the same prefix:
// the committer writes PREFIX.index and then the `checkpoint` state file
// (storage/checkpoint/commit.h) and applies retention. The prefix must be
// on a file system the coordinator's host shares with the ranks (the hosted
// coordinator runs on rank 0's node).
//
// Thread-safe (one mutex); the commit's file I/O runs under it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/status.h"
#include "proto/coordinator.pb.h"
#include "storage/checkpoint/commit.h"
#include "storage/io/file_system.h"

namespace shardtrain::coordinator {

class CheckpointCommitter {
 public:
  CheckpointCommitter(storage::FileSystem* fs, int world_size) : fs_(fs), world_size_(world_size) {}

  // Records the part of `rank` (the reporting connection's registered rank).
  // InvalidArgument when it names another rank, a world size other than the
  // job's, a relative or empty prefix, no entries, or entries of another shard.
  // At most 8 unfinished saves are kept: the part that opens a ninth drops the
  // save whose first part arrived earliest.
  Status AddPart(int rank, const CheckpointShardWritten& part);

  // Commits request.prefix; FailedPrecondition naming the ranks that did not
  // report it. `now` is the timestamp recorded in the state file.
  StatusOr<CheckpointCommitReply> Commit(const CheckpointCommitRequest& request, double now);

  // The last committed prefix ("" before the first) and its step.
  std::string last_committed() const;
  int64_t last_committed_step() const;

 private:
  storage::FileSystem* const fs_;
  const int world_size_;
  mutable std::mutex mutex_;
  // The parts reported for one prefix, by rank, and the order in which its
  // first part arrived among all saves (0, 1, ...).
  struct PendingSave {
    uint64_t opened = 0;
    std::map<int, storage::CheckpointPart> parts;
  };
  // By prefix; a committed prefix is removed.
  std::map<std::string, PendingSave> pending_;
  uint64_t saves_opened_ = 0;
  std::string last_committed_;
  int64_t last_committed_step_ = -1;
};

}  // namespace shardtrain::coordinator
