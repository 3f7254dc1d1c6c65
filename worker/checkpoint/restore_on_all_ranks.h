// Restoring a checkpoint into every rank of a data-parallel job, reading each
// byte from disk once, in parallel: the ranks split the model and optimizer
// variables' bytes into one contiguous range per rank (cuts may fall inside a
// tensor), each reads its range in pieces of at most 16 MiB, and each piece is
// broadcast from its reader as soon as it is read (one rank reads whole
// tensors: it has nothing to broadcast). Every rank checks every variable's
// CRC, combining the CRCs of the pieces read by all ranks, and itself reads
// and checks every other tensor (training state, object graph,
// hyper-parameters: all small). So a restore that succeeds has verified the
// whole checkpoint, as VerifyCheckpoint would, and a resume needs no separate
// verifying read. Measured in docs/BENCHMARKS.md, "Checkpoint save and
// restore".
//
// Collective: every rank calls it with the same prefix. If any rank fails,
// every rank returns an error (the failing rank its own; the others one naming
// that rank, DataLoss when it found the checkpoint damaged), and none is left
// waiting in a collective. A failed restore leaves the trainer's variables
// partly overwritten; restoring another checkpoint overwrites them all (and
// zeroes the optimizer's slots for a weights-only one).
#pragma once

#include <string>

#include "common/status.h"
#include "storage/io/file_system.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/comm/communicator.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {

// True for the errors that mean the checkpoint is damaged or incomplete
// (DataLoss, NotFound), after which a resume may try an older one; false for
// the others (a model that does not fit, a failed collective, ...).
bool IsDamagedCheckpoint(const Status& status);

StatusOr<SavedState> RestoreOnAllRanks(storage::FileSystem* fs, const std::string& prefix,
                                       Trainer& trainer, comm::Communicator& comm);

}  // namespace shardtrain::checkpoint
