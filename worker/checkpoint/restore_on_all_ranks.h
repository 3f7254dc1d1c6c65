// Restoring a checkpoint into every rank of a data-parallel job, reading it
// from disk once: rank 0 reads every tensor (each CRC checked); the other ranks
// read only the small training-state tensors and receive the weights and the
// optimizer's variables by broadcast. On one node this replaces N concurrent
// full reads of the same files with one read and an in-memory copy (measured in
// docs/BENCHMARKS.md, "Checkpoint save and restore").
//
// Collective: every rank calls it with the same prefix. If any rank fails,
// every rank returns an error (rank 0's names the tensor and file), and none
// is left waiting in a broadcast.
#pragma once

#include <string>

#include "common/status.h"
#include "storage/io/file_system.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/comm/communicator.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {

StatusOr<SavedState> RestoreOnAllRanks(storage::FileSystem* fs, const std::string& prefix,
                                       Trainer& trainer, comm::Communicator& comm);

}  // namespace shardtrain::checkpoint
