// Restoring a checkpoint into every rank of a data-parallel job, reading each
// byte from disk once: the ranks split the model and optimizer variables'
// bytes into one contiguous range per rank (cuts may fall inside a tensor),
// each reads its range and broadcasts it. Every rank checks every variable's
// CRC, combining the CRCs of the pieces read by all ranks, and itself reads
// and checks every other (small) tensor, so a restore that succeeds has
// verified the whole checkpoint and a resume needs no separate verifying read.
//
// Collective: every rank calls it with the same prefix. If any rank fails,
// every rank returns the error of the lowest failing rank, code included
// (comm::AgreeOnStatus), and none is left waiting in a collective. Where the
// host reads the trainer's memory in place (the CPU backend) a failed restore
// leaves the trainer's variables partly overwritten; restoring another
// checkpoint overwrites them all (and zeroes the optimizer's slots for a
// weights-only one). Elsewhere (CUDA, the strict device) the variables are
// read into host staging and copied to the device only once every rank has
// verified them (FinishRestore), so a damaged or mismatched checkpoint leaves
// the device state unchanged.
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
