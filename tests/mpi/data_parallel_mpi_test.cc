// Data parallelism under mpirun (2 and 3 ranks): N ranks compute exactly what
// one process computes on the same global batches, every rank ends with the
// same parameters, and one epoch touches every example exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/philox.h"
#include "coordinator/shard_planner.h"
#include "kernels/backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/communicator_factory.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 32;

data::Dataset Synthetic(int64_t n) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = kFeatures;
  d.features.resize(static_cast<size_t>(n * kFeatures));
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    d.labels[i] = static_cast<int32_t>(PhiloxBits(3, 0, 1, i) % 10);
    for (int64_t j = 0; j < kFeatures; ++j) {
      const auto pixel = static_cast<uint8_t>(
          (PhiloxBits(3, 0, 2, i * kFeatures + j) & 0x7F) + (j % 10 == d.labels[i] ? 128 : 0));
      d.features[i * kFeatures + j] = pixel * (1.0f / 255.0f);  // as the decoder scales pixels
    }
  }
  d.shard_sizes = {n / 3, n / 3, n - 2 * (n / 3)};
  return d;
}

config::JobConfig Job(float dropout) {
  auto job = ParseJobConfig(R"pb(
    model {
      input_shape: [32]
      layers { dense { units: 64 activation: RELU } }
      layers { dropout { rate: 0.0 } }
      layers { dense { units: 10 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    data { dir: "unused" num_classes: 10 }
    training { batch_size: 64 epochs: 1 seed: 11 }
  )pb", "test");
  EXPECT_TRUE(job.ok()) << job.status();
  job->mutable_model()->mutable_layers(1)->mutable_dropout()->set_rate(dropout);
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

// Runs `steps` steps of epoch 0 as rank/world of `comm`; returns the parameters.
std::vector<float> Train(comm::Communicator* comm, const data::Dataset& data, float dropout,
                         int steps) {
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(Job(dropout), backend.get(), comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  EXPECT_TRUE((*trainer)->BroadcastParameters().ok());
  const int rank = comm != nullptr ? comm->rank() : 0;
  const int world = comm != nullptr ? comm->world_size() : 1;
  coordinator::RankAssignment plan =
      coordinator::AssignEpoch(11, 0, data.shard_sizes, true, 64, 0, rank, world);
  int64_t position = 0;
  std::vector<float> x(64 * kFeatures);
  std::vector<int32_t> labels(64);
  for (int s = 0; s < steps; ++s) {
    StepResult result;
    const int64_t rows = plan.step_counts[s];
    GatherRows(data, plan.example_ids.data() + position, rows, x.data(), labels.data(), nullptr);
    Status status = (*trainer)->Step(x.data(), loss::Targets::ClassIds(labels.data()),
                                     {rows, plan.step_offsets[s], 64}, &result);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_EQ(result.examples, 64);
    position += rows;
  }
  const model::ParameterStore& params = (*trainer)->model().parameters();
  return std::vector<float>(params.params(), params.params() + params.size());
}

class DataParallelTest : public ::testing::TestWithParam<float> {};

TEST_P(DataParallelTest, RanksMatchOneProcessAfterFiftySteps) {
  const float dropout = GetParam();
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  const data::Dataset data = Synthetic(64 * 50 + 17);
  std::vector<float> parallel = Train(comm->get(), data, dropout, 50);
  std::vector<float> single = Train(nullptr, data, dropout, 50);

  // Against one process: max |difference| within 1e-5 of the largest weight.
  float max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(parallel[i] - single[i]));
    max_abs = std::max(max_abs, std::fabs(single[i]));
  }
  EXPECT_LE(max_diff, 1e-5f * max_abs) << "rank " << (*comm)->rank();
  EXPECT_GT(max_abs, 0.0f);

  // Every rank holds bit-identical parameters: the sum over ranks is world x ours.
  std::vector<double> sum(parallel.begin(), parallel.end());
  ASSERT_TRUE((*comm)->AllReduceSum(sum.data(), static_cast<int64_t>(sum.size()), DType::kFloat64).ok());
  for (size_t i = 0; i < sum.size(); ++i) {
    ASSERT_EQ(sum[i], static_cast<double>(parallel[i]) * (*comm)->world_size()) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Dropout, DataParallelTest, ::testing::Values(0.0f, 0.2f));

// Records the ids every plan hands out.
class RecordingPlanner : public InMemoryPlanner {
 public:
  RecordingPlanner(const data::Dataset* train, int rank, int world)
      : InMemoryPlanner(train, 64), shards_(train->shard_sizes), rank_(rank), world_(world) {}
  std::vector<int64_t> seen;

 protected:
  StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t start) override {
    coordinator::RankAssignment a =
        coordinator::AssignEpoch(11, epoch, shards_, true, 64, start, rank_, world_);
    seen.insert(seen.end(), a.example_ids.begin(), a.example_ids.end());
    int64_t rows = std::accumulate(a.step_counts.begin(), a.step_counts.end(), int64_t{0});
    EXPECT_EQ(rows, static_cast<int64_t>(a.example_ids.size()));
    return EpochPlan{a.epoch, a.first_step, a.example_ids, a.step_counts, a.step_offsets};
  }

 private:
  std::vector<int64_t> shards_;
  int rank_, world_;
};

class StepCounter : public callbacks::Callback {
 public:
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    steps = e.steps_in_epoch;
    return OkStatus();
  }
  int64_t steps = 0;
};

TEST(DataParallelEpochTest, EveryExampleExactlyOncePerEpoch) {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  const data::Dataset data = Synthetic(1003);  // not a multiple of the batch or of N
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(Job(0.2f), backend.get(), comm->get());
  ASSERT_TRUE(trainer.ok());
  RecordingPlanner planner(&data, (*comm)->rank(), (*comm)->world_size());
  StepCounter counter;
  const data::Dataset val = Synthetic(100);
  ASSERT_TRUE((*trainer)->Fit(&planner, &val, {&counter}).ok());
  EXPECT_EQ(counter.steps, (1003 + 63) / 64);
  std::vector<double> count(1003, 0.0);
  for (int64_t id : planner.seen) count[static_cast<size_t>(id)] += 1;
  ASSERT_TRUE((*comm)->AllReduceSum(count.data(), 1003, DType::kFloat64).ok());
  for (size_t id = 0; id < count.size(); ++id) ASSERT_EQ(count[id], 1.0) << "example " << id;
}

}  // namespace
}  // namespace shardtrain
