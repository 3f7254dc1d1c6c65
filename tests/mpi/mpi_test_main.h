// Shared main for the mpi-labelled gtest binaries (run under mpirun).
//
// main() initializes MPI (MpiRuntime), runs the tests on every rank in the same
// order, lets only rank 0 print gtest's normal output (other ranks print their
// failures prefixed "[rank N]"), then agrees on the outcome so that a failure
// on any rank makes every rank exit non-zero. A watchdog (SIGALRM) ends a rank
// stuck past SHARDTRAIN_MPI_TEST_TIMEOUT seconds (default 100) so a broken
// collective cannot hang the run. Tests must not skip or return early on a
// condition that differs between ranks (the ranks would desynchronize).
// Thread-safety: single-threaded test code.
#pragma once

#include "worker/comm/mpi_runtime.h"

namespace shardtrain::comm::testing {

// The process's runtime; valid for the whole test run.
MpiRuntime* Runtime();

}  // namespace shardtrain::comm::testing
