// Preemption: SIGTERM (what mpirun, Slurm and Kubernetes send before killing
// a job) only sets a flag; the checkpointer polls it at step boundaries, all
// ranks agree in a collective, save a checkpoint and stop training, and the
// process exits 0. A re-run of the same command resumes.
//
// Note: Open MPI's mpirun forwards SIGTERM to the ranks and SIGKILLs them
// odls_base_sigkill_timeout seconds later (default 1): enough for a small
// model; raise it (OMPI_MCA_odls_base_sigkill_timeout=30) for large ones.
// Thread-safe (a lock-free atomic flag, async-signal-safe).
#pragma once

#include "common/status.h"

namespace shardtrain {

// Installs the SIGTERM handler. Call once, after MPI_Init.
Status InstallPreemptionHandler();

// True once SIGTERM arrived in this process.
bool PreemptionRequested();

// Test hook: behaves as if SIGTERM had arrived.
void RequestPreemptionForTest();

}  // namespace shardtrain
