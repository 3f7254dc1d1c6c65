// The default verbosity rule (Keras's verbose="auto"): the live bar only on a
// terminal outside mpirun, whose ranks write to a pseudo-terminal that mpirun
// forwards (to a file as often as to a person); one line per epoch otherwise.
// The end-to-end check that `mpirun -np 2 ... > file` writes no \r is in
// tests/cli/verbosity_test.sh.
#include "worker/callbacks/progress.h"

#include <gtest/gtest.h>

namespace shardtrain::callbacks {
namespace {

TEST(DefaultVerbosityTest, LiveBarOnlyOnATerminalOutsideMpirun) {
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/true, /*launched_by_mpi=*/false), 1);
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/false, /*launched_by_mpi=*/false), 2);
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/true, /*launched_by_mpi=*/true), 2);
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/false, /*launched_by_mpi=*/true), 2);
}

}  // namespace
}  // namespace shardtrain::callbacks
