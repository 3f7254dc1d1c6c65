// The default verbosity rule (Keras's verbose="auto"): the live bar only on a
// terminal outside mpirun, whose ranks write to a pseudo-terminal that mpirun
// forwards (to a file as often as to a person); one line per epoch otherwise.
// The end-to-end check that `mpirun -np 2 ... > file` writes no \r is in
// tests/cli/verbosity_test.sh. The epoch line shows every log in Keras 3's
// order.
#include "worker/callbacks/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace shardtrain::callbacks {
namespace {

TEST(DefaultVerbosityTest, LiveBarOnlyOnATerminalOutsideMpirun) {
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/true, /*launched_by_mpi=*/false), 1);
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/false, /*launched_by_mpi=*/false), 2);
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/true, /*launched_by_mpi=*/true), 2);
  EXPECT_EQ(DefaultVerbosity(/*stdout_is_terminal=*/false, /*launched_by_mpi=*/true), 2);
}

// Keras 3 prints the training logs by name, then the val_ ones by name.
TEST(ProgressTest, EpochLineShowsEveryLogInKerasOrder) {
  std::ostringstream out;
  Progress progress(&out, /*verbose=*/2);
  TrainBegin begin;
  begin.epochs = 3;
  ASSERT_TRUE(progress.OnTrainBegin(begin).ok());
  out.str("");
  EpochEnd end;
  end.epoch = 1;
  end.steps_in_epoch = 10;
  end.epoch_seconds = 2.0;
  end.examples_per_sec = 500;
  end.logs = {{"loss", 0.5},     {"auc", 0.875},     {"accuracy", 0.75},
              {"val_loss", 0.625}, {"val_auc", 0.8125}, {"val_accuracy", 0.6875}};
  ASSERT_TRUE(progress.OnEpochEnd(end).ok());
  EXPECT_EQ(out.str(),
            "Epoch 1/3 - 10/10 - 2.0s - 200ms/step - accuracy: 0.7500 - auc: 0.8750 - loss: "
            "0.5000 - val_accuracy: 0.6875 - val_auc: 0.8125 - val_loss: 0.6250 - 500 "
            "examples/s\n");
}

}  // namespace
}  // namespace shardtrain::callbacks
