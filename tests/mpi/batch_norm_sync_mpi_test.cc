// Synchronized BatchNormalization under mpirun (2 and 3 ranks): a small CNN
// trained through Trainer::Step on fixed global batches gives, on N ranks,
// the losses and final parameters (moving statistics included) of one process
// training the same global batches, and the same bits on every rank; the last
// step has rows on rank 0 only, so the other ranks join the statistics' sums
// with no rows. The same job with unsynchronized layers measurably differs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/communicator_factory.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 6 * 6;
constexpr int64_t kBatch = 16;
// Ten full global batches, then one of 3 rows that rank 0 takes alone.
const std::vector<int64_t> kGlobalRows = {16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 3};

// Conv2D(relu) -> BN -> MaxPool -> Dense(relu) -> BN -> Dense. The relu
// before each BN keeps every parameter's true gradient away from exactly zero
// (a linear Dense before a BN makes the bias below it invisible, and Adam
// would turn that gradient's rounding noise into full-size steps).
config::JobConfig Job(bool synchronized) {
  const std::string bn =
      std::string("layers { batch_normalization { momentum: 0.5 synchronized: ") +
      (synchronized ? "true" : "false") + " } } ";
  auto job = ParseJobConfig(
      "model { input_shape: [6, 6, 1] "
      "layers { conv2d { filters: 4 kernel_size: [3] activation: RELU } } " +
          bn +
          "layers { max_pooling2d {} } layers { flatten {} } layers { dense { units: 8 activation: "
          "RELU } } " +
          bn +
          "layers { dense { units: 3 } } } "
          "optimizer { adam {} } "
          "loss { sparse_categorical_crossentropy { from_logits: true } } "
          "data { dir: \"unused\" num_classes: 3 } "
          "training { batch_size: 16 epochs: 1 seed: 5 }",
      "test");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

// Global batch `step`'s rows: features with a per-step offset (the batches'
// statistics differ) and labels from the features' first pixel.
void GlobalBatch(int64_t step, std::vector<float>* x, std::vector<int32_t>* labels) {
  const int64_t rows = kGlobalRows[static_cast<size_t>(step)];
  x->resize(static_cast<size_t>(rows * kFeatures));
  labels->resize(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows * kFeatures; ++i) {
    (*x)[i] = static_cast<float>(PhiloxBits(9, step, 1, i) % 1000) / 500.0f + 0.1f * step;
  }
  for (int64_t r = 0; r < rows; ++r) {
    (*labels)[r] = static_cast<int32_t>(PhiloxBits(9, step, 2, r) % 3);
  }
}

// This rank's contiguous share of `global` rows; the last step's all go to rank 0.
StepRows Share(int64_t step, int64_t global, int rank, int world) {
  if (step + 1 == static_cast<int64_t>(kGlobalRows.size())) {
    return rank == 0 ? StepRows{global, 0, global} : StepRows{0, global, global};
  }
  const int64_t begin = global * rank / world, end = global * (rank + 1) / world;
  return StepRows{end - begin, begin, global};
}

struct TrainingRun {
  std::vector<double> losses;  // each step's global mean loss
  std::vector<float> params;
  std::vector<std::string> owners;  // each float's variable name
};

TrainingRun Train(comm::Communicator* comm, bool synchronized) {
  TrainingRun run;
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(Job(synchronized), backend.get(), comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return run;
  EXPECT_TRUE((*trainer)->BroadcastParameters().ok());
  const int rank = comm != nullptr ? comm->rank() : 0;
  const int world = comm != nullptr ? comm->world_size() : 1;
  std::vector<float> x;
  std::vector<int32_t> labels;
  for (int64_t s = 0; s < static_cast<int64_t>(kGlobalRows.size()); ++s) {
    GlobalBatch(s, &x, &labels);
    const StepRows rows = Share(s, kGlobalRows[static_cast<size_t>(s)], rank, world);
    StepResult result;
    const Status status =
        (*trainer)->Step(x.data() + rows.first_row * kFeatures,
                         loss::Targets::ClassIds(labels.data() + rows.first_row), rows, &result);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_EQ(result.examples, rows.global_rows);
    run.losses.push_back(result.loss_sum / static_cast<double>(result.examples));
  }
  const model::ParameterStore& params = (*trainer)->model().parameters();
  run.params.assign(params.params(), params.params() + params.size());
  for (int v = 0; v < params.num_variables(); ++v) {
    run.owners.resize(run.owners.size() + params.variable(v).shape.num_elements(),
                      params.variable(v).name);
  }
  return run;
}

// Max |a - b| over the largest |b|; `worst` names where the max is.
double RelativeDifference(const TrainingRun& a, const TrainingRun& b, std::string* worst) {
  EXPECT_EQ(a.params.size(), b.params.size());
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < std::min(a.params.size(), b.params.size()); ++i) {
    const double d = std::fabs(static_cast<double>(a.params[i]) - b.params[i]);
    if (d > diff)
      *worst =
          b.owners[i] + " " + std::to_string(a.params[i]) + " vs " + std::to_string(b.params[i]);
    diff = std::max(diff, d);
    scale = std::max(scale, std::fabs(static_cast<double>(b.params[i])));
  }
  return diff / scale;
}

TEST(BatchNormSyncMpiTest, RanksTrainAsOneProcessOnTheGlobalBatches) {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  const TrainingRun parallel = Train(comm->get(), true);
  const TrainingRun single = Train(nullptr, true);
  ASSERT_EQ(parallel.losses.size(), single.losses.size());
  for (size_t s = 0; s < single.losses.size(); ++s) {
    EXPECT_NEAR(parallel.losses[s], single.losses[s], 1e-5 * std::fabs(single.losses[s]))
        << "step " << s;
  }
  std::string worst;
  EXPECT_LE(RelativeDifference(parallel, single, &worst), 1e-5) << worst;

  // Every rank holds bit-identical parameters: the sum over ranks is world x ours.
  std::vector<double> sum(parallel.params.begin(), parallel.params.end());
  ASSERT_TRUE(
      (*comm)->AllReduceSum(sum.data(), static_cast<int64_t>(sum.size()), DType::kFloat64).ok());
  for (size_t i = 0; i < sum.size(); ++i) {
    ASSERT_EQ(sum[i], static_cast<double>(parallel.params[i]) * (*comm)->world_size()) << i;
  }

  // Each rank normalizing its own rows trains a visibly different model.
  const TrainingRun local = Train(comm->get(), false);
  EXPECT_GT(RelativeDifference(local, single, &worst), 1e-3);
}

}  // namespace
}  // namespace shardtrain
