// Host-memory collectives built on Communicator::AllReduceSumHostScalars, the
// one host-memory collective every communicator (local, MPI, NCCL) has, or on
// AllReduceSum where the communicator's memory is the host's: they work
// unchanged whatever memory kind the communicator's own calls use.
//
// AgreeOnStatus is how ranks decide together whether a step that may fail on
// some of them (setting up, restoring, saving) succeeded: a failure on any
// rank becomes the same error, code and message, on every rank, so every rank
// can stop without being left waiting in a collective. The message exchange
// costs a few small allreduces and happens only when a rank failed.
//
// Both are collective: every rank of the job calls them in the same order.
// Thread-safety: as the communicator's (one caller at a time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "worker/comm/communicator.h"

namespace shardtrain::comm {

// OK on every rank when `local` is OK on every rank. Otherwise every rank
// returns the error of the lowest failing rank R: its code, and the message
// "rank R of N failed WHAT: <its message>" (plus how many other ranks failed).
// With one rank, `local`. An error of the exchange itself is returned with
// context naming `what`.
Status AgreeOnStatus(Communicator& comm, const Status& local, std::string_view what);

// As AgreeOnStatus, but a rank that failed returns its own `local` error, so
// that every failing rank's error is shown, not only the lowest one's.
Status AgreeOnStatusKeepingOwnError(Communicator& comm, const Status& local, std::string_view what);

// Sums `count` doubles in host memory over ranks (in place). One collective
// where the communicator sums host memory itself (local, mpi: AllReduceSum);
// a device communicator (nccl) takes them through AllReduceSumHostScalars,
// kMaxHostScalars at a time. InvalidArgument for a negative count.
Status AllReduceSumHostDoubles(Communicator& comm, double* values, int64_t count);

// Rank `root`'s `text` on every rank (the other ranks' `text` is ignored).
StatusOr<std::string> BroadcastHostString(Communicator& comm, const std::string& text, int root);

}  // namespace shardtrain::comm
