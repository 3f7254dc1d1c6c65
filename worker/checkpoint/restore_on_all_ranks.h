// Restoring a checkpoint into every rank of a data-parallel job, reading each
// byte from disk once, in parallel: the ranks split the model and optimizer
// variables' bytes into one contiguous range per rank (cuts may fall inside a
// tensor), each reads its range, and each piece is then broadcast from its
// reader. Every rank checks every tensor's CRC, combining the CRCs of the
// pieces read by all ranks, so damage is DataLoss naming the tensor and its
// data file on every rank. Each rank also reads the small training-state
// tensors itself. Measured in docs/BENCHMARKS.md, "Checkpoint save and restore".
//
// Collective: every rank calls it with the same prefix. If any rank fails,
// every rank returns an error (the failing rank's own, the others one naming
// that rank), and none is left waiting in a collective.
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
