// Checking that a checkpoint is intact before trusting it, and listing the
// checkpoints a resume may fall back to (newest first; the restore itself
// verifies each, see worker/checkpoint/restore_on_all_ranks.h).
// Stateless; thread-safe as the FileSystem is.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::storage {

// Opens the bundle at `prefix` and reads every tensor, verifying every CRC.
// The first problem comes back (DataLoss naming the tensor and the file, or
// NotFound for a missing data file).
Status VerifyCheckpoint(FileSystem* fs, const std::string& prefix);

// The same on an open bundle, for every tensor except those in `skip` (which
// the caller reads, and so verifies, itself).
Status VerifyTensors(const BundleReader& reader, const std::set<std::string>& skip);

// The checkpoints `dir`'s state file names, newest first (the latest, then
// the managed list from newest to oldest), resolved to prefixes.
StatusOr<std::vector<std::string>> CheckpointCandidates(FileSystem* fs, const std::string& dir);

}  // namespace shardtrain::storage
