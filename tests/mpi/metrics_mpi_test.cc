// Metrics under mpirun (2 and 3 ranks): sums accumulated on each rank's slice
// and summed over ranks give exactly the one-process value
// on the same data, for evaluation through the trainer as for the metric sums
// themselves; training logs are global (every rank logs the same values).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/communicator_factory.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"
#include "worker/metrics/metric_set.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 16;

// [begin, begin + count) of `n` rows for `rank` of `world`, as Evaluate splits.
std::pair<int64_t, int64_t> Slice(int64_t n, int rank, int world) {
  const int64_t begin = rank * (n / world) + std::min<int64_t>(rank, n % world);
  return {begin, n / world + (rank < n % world ? 1 : 0)};
}

config::JobConfig BinaryJob() {
  auto job = ParseJobConfig(R"pb(
                              model {
                                input_shape: [ 16 ]
                                layers { dense { units: 8 activation: RELU } }
                                layers { dense { units: 1 activation: SIGMOID } }
                              }
                              optimizer { adam {} }
                              loss { binary_crossentropy {} }
                              metrics: "accuracy"
                              metrics: "precision"
                              metrics: "recall"
                              metrics: "auc"
                              metrics: "mae"
                              data { dir: "unused" num_classes: 2 }
                              training { batch_size: 32 epochs: 1 seed: 7 }
                            )pb",
                            "binary metrics job");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

// 0/1 labels; features that carry the label, so the model's outputs spread.
data::Dataset Synthetic(int64_t n) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = kFeatures;
  d.features.resize(static_cast<size_t>(n * kFeatures));
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    d.labels[i] = static_cast<int32_t>(PhiloxBits(5, 0, 1, i) % 2);
    for (int64_t j = 0; j < kFeatures; ++j) {
      const auto pixel = static_cast<uint8_t>(
          (PhiloxBits(5, 0, 2, i * kFeatures + j) & 0x7F) + (j < 4 && d.labels[i] ? 100 : 0));
      d.features[i * kFeatures + j] = pixel * (1.0f / 255.0f);  // as the decoder scales pixels
    }
  }
  d.shard_sizes = {n};
  return d;
}

TEST(MetricsMpiTest, ReducedSumsEqualOneProcessOnTheSameOutputs) {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  config::JobConfig job = BinaryJob();
  const int64_t n = 1001;
  auto backend = kernels::CreateCpuBackend();
  auto set = metrics::MetricSet::Create(*backend, job, 1, n);
  ASSERT_TRUE(set.ok()) << set.status();
  // Outputs in eighths: every |label - output| and sum is exact, in any order.
  std::vector<float> outputs(n);
  std::vector<int32_t> labels(n);
  for (int64_t i = 0; i < n; ++i) {
    outputs[i] = static_cast<float>(PhiloxBits(9, 0, 0, i) % 9) / 8.0f;
    labels[i] = static_cast<int32_t>(PhiloxBits(9, 0, 1, i) % 2);
  }
  std::vector<double> all(set->num_sums()), mine(set->num_sums());
  ASSERT_TRUE(set->Accumulate(*backend, outputs.data(), loss::Targets::ClassIds(labels.data()), n,
                              all.data())
                  .ok());
  const auto [begin, count] = Slice(n, (*comm)->rank(), (*comm)->world_size());
  ASSERT_TRUE(set->Accumulate(*backend, outputs.data() + begin,
                              loss::Targets::ClassIds(labels.data() + begin), count, mine.data())
                  .ok());
  ASSERT_TRUE(
      (*comm)->AllReduceSum(mine.data(), static_cast<int64_t>(mine.size()), DType::kFloat64).ok());
  metrics::Logs one_process, reduced;
  set->AppendLogs(all.data(), metrics::Totals{n, 0}, "", &one_process);
  set->AppendLogs(mine.data(), metrics::Totals{n, 0}, "", &reduced);
  EXPECT_EQ(reduced, one_process);
}

TEST(MetricsMpiTest, EvaluateOnRanksEqualsOneProcess) {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  const data::Dataset data = Synthetic(777);
  auto backend = kernels::CreateCpuBackend();
  // The same seed gives both trainers the same initial parameters.
  auto parallel = Trainer::Create(BinaryJob(), backend.get(), comm->get());
  auto single = Trainer::Create(BinaryJob(), backend.get());
  ASSERT_TRUE(parallel.ok() && single.ok());
  auto reduced = (*parallel)->Evaluate(data);
  auto one_process = (*single)->Evaluate(data);
  ASSERT_TRUE(reduced.ok() && one_process.ok());
  ASSERT_EQ(reduced->metrics.size(), 5u);
  for (size_t i = 0; i < reduced->metrics.size(); ++i) {
    const auto& [name, value] = reduced->metrics[i];
    EXPECT_EQ(name, one_process->metrics[i].first);
    // A rank's slice goes through the model in other batch shapes, whose BLAS
    // products may round differently (outputs agree to ~1e-7): the mean error
    // agrees to that; the counts behind the other metrics are the same (no
    // output of this data lies that close to a threshold). The reduction
    // itself is exact: ReducedSumsEqualOneProcessOnTheSameOutputs.
    if (name == "mae") {
      EXPECT_NEAR(value, one_process->metrics[i].second, 1e-6) << name;
    } else {
      EXPECT_EQ(value, one_process->metrics[i].second) << name;
    }
  }
  EXPECT_GT(one_process->metrics[3].second, 0.0);  // auc: the outputs are not all alike
}

// A 2-rank fit: the logged training and validation metrics are the global
// values, the same on every rank.
class LastEpoch : public callbacks::Callback {
 public:
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    logs = e.logs;
    return OkStatus();
  }
  metrics::Logs logs;
};

class RankPlanner : public InMemoryPlanner {
 public:
  RankPlanner(const data::Dataset* train, int rank, int world)
      : InMemoryPlanner(train, 32), n_(train->num_examples), rank_(rank), world_(world) {}

 protected:
  StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t) override {
    EpochPlan plan;  // each global batch of 32 split in contiguous rank slices
    plan.epoch = epoch;
    for (int64_t start = 0; start < n_; start += 32) {
      const int64_t rows = std::min<int64_t>(32, n_ - start);
      const auto [begin, count] = Slice(rows, rank_, world_);
      for (int64_t i = 0; i < count; ++i) plan.example_ids.push_back(start + begin + i);
      plan.step_counts.push_back(static_cast<int32_t>(count));
      plan.step_offsets.push_back(begin);
    }
    return plan;
  }

 private:
  int64_t n_;
  int rank_, world_;
};

TEST(MetricsMpiTest, TrainingLogsAreTheSameOnEveryRank) {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(comm.ok()) << comm.status();
  const data::Dataset train = Synthetic(200), val = Synthetic(61);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(BinaryJob(), backend.get(), comm->get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RankPlanner planner(&train, (*comm)->rank(), (*comm)->world_size());
  LastEpoch last;
  ASSERT_TRUE((*trainer)->Fit(&planner, &val, {&last}).ok());
  ASSERT_EQ(last.logs.size(), 12u);  // loss + 5 metrics, and val_ each
  std::vector<double> values, summed;
  for (const auto& [name, value] : last.logs) values.push_back(value);
  summed = values;
  ASSERT_TRUE(
      (*comm)
          ->AllReduceSum(summed.data(), static_cast<int64_t>(summed.size()), DType::kFloat64)
          .ok());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(summed[i], values[i] * (*comm)->world_size()) << last.logs[i].first;
  }
}

}  // namespace
}  // namespace shardtrain
