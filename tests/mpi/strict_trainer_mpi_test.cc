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

#include "common/philox.h"
#include "coordinator/shard_planner.h"
#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/communicator_factory.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 20;
constexpr int64_t kBatch = 16;

data::Dataset Synthetic(int64_t n, uint64_t seed) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = kFeatures;
  d.features.resize(static_cast<size_t>(n * kFeatures));
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    d.labels[i] = static_cast<int32_t>(PhiloxBits(seed, 0, 1, i) % 4);
    for (int64_t j = 0; j < kFeatures; ++j) {
      const auto pixel = static_cast<uint8_t>((PhiloxBits(seed, 0, 2, i * kFeatures + j) & 0x7F) +
                                              (j % 4 == d.labels[i] ? 128 : 0));
      d.features[i * kFeatures + j] = pixel * (1.0f / 255.0f);
    }
  }
  d.shard_sizes = {n / 2, n - n / 2};
  return d;
}

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

// This rank's part of each epoch, as the coordinator's planner cuts it.
class RankPlanner : public InMemoryPlanner {
 public:
  RankPlanner(const data::Dataset* train, int rank, int world)
      : InMemoryPlanner(train, kBatch), shards_(train->shard_sizes), rank_(rank), world_(world) {}

 protected:
  StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t start) override {
    coordinator::RankAssignment a =
        coordinator::AssignEpoch(13, epoch, shards_, true, kBatch, start, rank_, world_);
    return EpochPlan{a.epoch, a.first_step, a.example_ids, a.step_counts, a.step_offsets};
  }

 private:
  std::vector<int64_t> shards_;
  int rank_, world_;
};

class LogRecorder : public callbacks::Callback {
 public:
  Status OnBatchEnd(const callbacks::BatchEnd& b) override {
    for (const auto& [name, value] : b.logs) values.push_back(value);
    return OkStatus();
  }
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    for (const auto& [name, value] : e.logs) values.push_back(value);
    return OkStatus();
  }
  std::vector<double> values;
};

struct RunResult {
  std::vector<double> logs;
  std::vector<float> weights;
  std::vector<double> evaluation;
};

RunResult TrainAndEvaluate(kernels::KernelBackend& backend, comm::Communicator* comm) {
  RunResult result;
  const data::Dataset train = Synthetic(400, 1), val = Synthetic(61, 2);
  auto trainer = Trainer::Create(Job(), &backend, comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return result;
  RankPlanner planner(&train, comm->rank(), comm->world_size());
  LogRecorder recorder;
  const Status fit = (*trainer)->Fit(&planner, &val, {&recorder});
  EXPECT_TRUE(fit.ok()) << fit;
  result.logs = recorder.values;
  const model::ParameterStore& params = (*trainer)->model().parameters();
  result.weights.resize(static_cast<size_t>(params.size()));
  EXPECT_TRUE(params.CopyParamsToHost(result.weights.data()).ok());
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
  // Per epoch: 25 steps of (loss, accuracy), then the epoch's and its val_ pair.
  ASSERT_EQ(expected.logs.size(), (25 * 2 + 4) * 2u);
  EXPECT_EQ(got.logs, expected.logs);  // bitwise: EXPECT_EQ on doubles
  EXPECT_EQ(got.weights.size(), expected.weights.size());
  EXPECT_EQ(std::memcmp(got.weights.data(), expected.weights.data(),
                        expected.weights.size() * sizeof(float)),
            0);
  EXPECT_EQ(got.evaluation, expected.evaluation);
}

}  // namespace
}  // namespace shardtrain
