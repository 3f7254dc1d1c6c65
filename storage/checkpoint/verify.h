// Checking that a checkpoint is intact before trusting it, and choosing the
// newest intact one of a directory (resume falls back to it, with a warning,
// when the latest is damaged — never silently to a fresh start).
// Stateless; thread-safe as the FileSystem is.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

// Opens the bundle at `prefix` and reads every tensor, verifying every CRC.
// The first problem comes back (DataLoss naming the tensor and the file, or
// NotFound for a missing data file).
Status VerifyCheckpoint(FileSystem* fs, const std::string& prefix);

// The checkpoints `dir`'s state file names, newest first (the latest, then
// the managed list from newest to oldest), resolved to prefixes.
StatusOr<std::vector<std::string>> CheckpointCandidates(FileSystem* fs, const std::string& dir);

struct IntactCheckpoint {
  std::string prefix;                  // "" when the directory has no state file
  std::vector<std::string> skipped;    // "PREFIX: why" for each damaged newer one
};

// The newest candidate of `dir` that verifies. No state file: prefix "".
// Every candidate damaged: DataLoss listing them.
StatusOr<IntactCheckpoint> NewestIntactCheckpoint(FileSystem* fs, const std::string& dir);

}  // namespace shardtrain::storage
