// The trainer on the strict emulated device under mpirun (2 ranks): the
// parameters are broadcast and the gradients summed through host copies of
// device memory the host cannot touch (GradientReducer's staged buckets on
// Stream::kCommunication), and Fit (two epochs with validation), Evaluate and
// the final weights give the CPU backend's bits on the same ranks, with no
// misuse recorded.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "tests/worker/trainer_test_util.h"
#include "tests/worker/training_test_callbacks.h"
#include "worker/comm/communicator_factory.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 20;
constexpr int64_t kBatch = 16;
constexpr uint64_t kSeed = 13;  // the job's training seed

config::JobConfig Job() {
  auto job = ParseJobConfig(R"pb(
    model {
      input_shape: [20]
      layers { dense { units: 24 activation: RELU } }
      layers { dropout { rate: 0.2 } }
      layers { dense { units: 4 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    metrics: "accuracy"
    data { dir: "unused" num_classes: 4 }
    training { batch_size: 16 epochs: 2 seed: 13 }
  )pb", "strict mpi job");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

struct RunResult {
  testing::StepLogRecorder logs;  // every batch's and epoch's
  std::vector<float> weights;
  std::vector<double> evaluation;
};

RunResult TrainAndEvaluate(kernels::KernelBackend& backend, comm::Communicator* comm) {
  RunResult result;
  const data::Dataset train = testing::TwoShardDataset(400, 1, kFeatures, 4),
                      val = testing::TwoShardDataset(61, 2, kFeatures, 4);
  auto trainer = Trainer::Create(Job(), &backend, comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return result;
  testing::RankPlanner planner(&train, kSeed, kBatch, comm->rank(), comm->world_size());
  const Status fit = (*trainer)->Fit(&planner, &val, {&result.logs});
  EXPECT_TRUE(fit.ok()) << fit;
  result.weights = testing::HostWeights(**trainer);
  auto eval = (*trainer)->Evaluate(val);
  EXPECT_TRUE(eval.ok()) << eval.status();
  if (eval.ok()) result.evaluation = {eval->loss, eval->accuracy, eval->metrics[0].second};
  return result;
}

TEST(StrictTrainerMpiTest, FitAndEvaluateMatchTheCpuBitwise) {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  auto cpu = kernels::CreateCpuBackend();
  std::unique_ptr<kernels::KernelBackend> strict = kernels::CreateStrictDeviceBackend();
  const RunResult expected = TrainAndEvaluate(*cpu, comm->get());
  const RunResult got = TrainAndEvaluate(*strict, comm->get());
  EXPECT_TRUE(strict->CheckErrors().ok()) << strict->CheckErrors();
  // Per epoch: 25 steps of (loss, accuracy), then the epoch's and its val_ pair
  // (after StepLogRecorder's 6 batch and 3 epoch counters).
  ASSERT_EQ(expected.logs.batches.size(), 25 * 2u);
  ASSERT_EQ(expected.logs.epochs.size(), 2u);
  for (const auto& [step, row] : expected.logs.batches) EXPECT_EQ(row.size(), 6 + 2u) << step;
  for (const auto& [epoch, row] : expected.logs.epochs) EXPECT_EQ(row.size(), 3 + 4u) << epoch;
  EXPECT_EQ(got.logs.batches, expected.logs.batches);  // bitwise: EXPECT_EQ on doubles
  EXPECT_EQ(got.logs.epochs, expected.logs.epochs);
  EXPECT_EQ(got.weights.size(), expected.weights.size());
  EXPECT_EQ(std::memcmp(got.weights.data(), expected.weights.data(),
                        expected.weights.size() * sizeof(float)),
            0);
  EXPECT_EQ(got.evaluation, expected.evaluation);
}

}  // namespace
}  // namespace shardtrain
