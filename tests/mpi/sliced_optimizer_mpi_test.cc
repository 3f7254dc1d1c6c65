// The slice-owner optimizer step under mpirun on 2 and 3 ranks of one node:
// SliceReduction::ReduceAndUpdate (each rank's chunks are exactly its
// OwnedSlice, every rank gets update(sum) bit for bit, mismatches fail on
// every rank), SlicedOptimizerStep::Create's fallbacks, and the trainer's
// sliced step against the replicated one (SHARDTRAIN_SLICED_OPTIMIZER=0):
// bit-identical weights and optimizer slots for Adam, AdamW, RMSprop and SGD,
// with a rank that has no rows, and after the slots are rewritten between
// steps (as a restore does). Every rank runs every test in the same order.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/mpi_communicator.h"
#include "worker/job_config.h"
#include "worker/sliced_optimizer_step.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

constexpr int64_t kFeatures = 24;
constexpr int64_t kBatch = 48;

std::unique_ptr<comm::MpiCommunicator> Comm() {
  auto comm = comm::MpiCommunicator::Create(comm::testing::Runtime());
  EXPECT_TRUE(comm.ok()) << comm.status();
  return comm.ok() ? std::move(comm).value() : nullptr;
}

// Arbitrary floats (sums round, so the summation order shows).
float Value(uint64_t key, int64_t i) {
  return static_cast<float>(PhiloxBits(7, key, 0, static_cast<uint64_t>(i)) % 20001) * 1e-4f -
         1.0f;
}

// True when every rank holds the same `values` (their sum over ranks is
// world size times ours).
bool SameOnEveryRank(comm::Communicator& comm, const std::vector<float>& values) {
  std::vector<double> sum(values.begin(), values.end());
  EXPECT_TRUE(comm.AllReduceSum(sum.data(), static_cast<int64_t>(sum.size()), DType::kFloat64).ok());
  for (size_t i = 0; i < sum.size(); ++i) {
    if (sum[i] != static_cast<double>(values[i]) * comm.world_size()) return false;
  }
  return true;
}

TEST(SliceReduction, EachRankUpdatesItsSliceAndEveryRankGetsTheResult) {
  auto comm = Comm();
  comm::SliceReduction* reduction = comm->slice_reduction();
  ASSERT_NE(reduction, nullptr) << "ranks on one node must get the shared-memory path";
  const int rank = comm->rank(), world = comm->world_size();
  for (int64_t count : {int64_t{1}, int64_t{17}, int64_t{2049}, int64_t{100003}}) {
    auto buffer = comm->AllocateGradientBuffer(count);
    ASSERT_TRUE(buffer.ok()) << buffer.status();
    float* data = *buffer;
    for (int64_t i = 0; i < count; ++i) data[i] = Value(static_cast<uint64_t>(rank), i);
    std::vector<float> out(static_cast<size_t>(count));
    int64_t next = comm::OwnedSlice(count, sizeof(float), rank, world).begin;
    auto update = [&](int64_t first, int64_t n, const float* sum) -> const float* {
      EXPECT_EQ(first, next);  // consecutive chunks of this rank's slice
      next = first + n;
      for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(first + i)] = 2.0f * sum[i] + 1.0f;
      return out.data() + first;
    };
    ASSERT_TRUE(reduction->ReduceAndUpdate(data, count, update).ok());
    EXPECT_EQ(next, comm::OwnedSlice(count, sizeof(float), rank, world).end);
    for (int64_t i = 0; i < count; ++i) {
      float sum = Value(0, i) + Value(1, i);  // rank order
      for (int p = 2; p < world; ++p) sum += Value(static_cast<uint64_t>(p), i);
      ASSERT_EQ(data[i], 2.0f * sum + 1.0f) << "count " << count << " element " << i;
    }
    EXPECT_TRUE(SameOnEveryRank(*comm, std::vector<float>(data, data + count)));
    const float* peer = reduction->PeerCopy(data, count, (rank + 1) % world);
    ASSERT_NE(peer, nullptr);
    EXPECT_EQ(std::memcmp(peer, data, static_cast<size_t>(count) * sizeof(float)), 0);
  }
}

TEST(SliceReduction, MismatchAndForeignBuffersAreInvalidArgumentOnEveryRank) {
  auto comm = Comm();
  comm::SliceReduction* reduction = comm->slice_reduction();
  ASSERT_NE(reduction, nullptr);
  auto buffer = comm->AllocateGradientBuffer(64);
  ASSERT_TRUE(buffer.ok());
  auto identity = [](int64_t, int64_t, const float* sum) { return sum; };
  Status mismatch = reduction->ReduceAndUpdate(*buffer, 32 + comm->rank(), identity);
  EXPECT_EQ(mismatch.code(), StatusCode::kInvalidArgument) << mismatch;
  std::vector<float> own(64);
  EXPECT_EQ(reduction->ReduceAndUpdate(own.data(), 64, identity).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(reduction->PeerCopy(own.data(), 64, 0), nullptr);
  EXPECT_TRUE(reduction->ReduceAndUpdate(*buffer, 64, identity).ok());  // recovers
}

config::JobConfig Job(const std::string& optimizer) {
  auto job = ParseJobConfig(R"pb(
    model {
      input_shape: [24]
      layers { dense { units: 40 activation: RELU } }
      layers { dropout { rate: 0.2 } }
      layers { dense { units: 10 } }
    }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    data { dir: "unused" num_classes: 10 }
    training { batch_size: 48 epochs: 1 seed: 5 }
  )pb" + ("optimizer { " + optimizer + " }"), "test");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

// A trained trainer's weights followed by its optimizer slots.
std::vector<float> WeightsAndSlots(Trainer& trainer) {
  const model::ParameterStore& params = trainer.model().parameters();
  std::vector<float> out(params.params(), params.params() + params.size());
  optimizer::Optimizer& opt = trainer.optimizer();
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    out.insert(out.end(), opt.slot(s).begin(), opt.slot(s).end());
  }
  return out;
}

// `steps` steps on synthetic data with SHARDTRAIN_SLICED_OPTIMIZER=`sliced`;
// the last step gives rank 0 no rows; before step 5 every slot value is
// rewritten through Trainer::optimizer() (as a restore writes them).
std::vector<float> Train(comm::Communicator& comm, const std::string& optimizer, bool sliced,
                         int steps) {
  setenv("SHARDTRAIN_SLICED_OPTIMIZER", sliced ? "1" : "0", 1);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(Job(optimizer), backend.get(), &comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  unsetenv("SHARDTRAIN_SLICED_OPTIMIZER");
  EXPECT_TRUE((*trainer)->BroadcastParameters().ok());
  const int rank = comm.rank(), world = comm.world_size();
  std::vector<float> x(static_cast<size_t>(kBatch * kFeatures));
  std::vector<int32_t> labels(static_cast<size_t>(kBatch));
  for (int s = 0; s < steps; ++s) {
    for (size_t i = 0; i < x.size(); ++i) x[i] = Value(100 + s, static_cast<int64_t>(i));
    for (int64_t i = 0; i < kBatch; ++i) labels[i] = static_cast<int32_t>((i * 7 + s) % 10);
    int64_t first = kBatch * rank / world, end = kBatch * (rank + 1) / world;
    if (s == steps - 1) {  // rank 0 sits this step out; the others split the batch
      first = rank == 0 ? 0 : kBatch * (rank - 1) / (world - 1);
      end = rank == 0 ? 0 : kBatch * rank / (world - 1);
    }
    if (s == 5) {
      optimizer::Optimizer& opt = (*trainer)->optimizer();
      for (size_t k = 0; k < opt.slot_names().size(); ++k) {
        for (float& value : opt.slot(k)) value *= 0.5f;
      }
    }
    StepResult result;
    Status status = (*trainer)->Step(x.data() + first * kFeatures,
                                     loss::Targets::ClassIds(labels.data() + first),
                                     {end - first, first, kBatch}, &result);
    EXPECT_TRUE(status.ok()) << status;
  }
  // The sliced step leaves the updated weights in the gradient buffer; the
  // replicated one leaves the summed gradients there.
  const model::ParameterStore& params = (*trainer)->model().parameters();
  const bool weights_in_gradient_buffer =
      std::memcmp(params.grads(), params.params(),
                  static_cast<size_t>(params.size()) * sizeof(float)) == 0;
  EXPECT_EQ(weights_in_gradient_buffer, sliced) << optimizer;
  return WeightsAndSlots(**trainer);
}

class SlicedTrainerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SlicedTrainerTest, BitIdenticalToTheReplicatedStep) {
  auto comm = Comm();
  const std::vector<float> replicated = Train(*comm, GetParam(), false, 12);
  const std::vector<float> sliced = Train(*comm, GetParam(), true, 12);
  ASSERT_EQ(sliced.size(), replicated.size());
  for (size_t i = 0; i < sliced.size(); ++i) {
    ASSERT_EQ(sliced[i], replicated[i]) << GetParam() << " float " << i << " rank "
                                        << comm->rank();
  }
  EXPECT_TRUE(SameOnEveryRank(*comm, sliced));
}

INSTANTIATE_TEST_SUITE_P(Optimizers, SlicedTrainerTest,
                         ::testing::Values("adam {}", "adamw {} weight_decay: 0.01",
                                           "rmsprop { momentum: 0.5 }",
                                           "sgd { momentum: 0.9 nesterov: true }", "sgd {}"));

// Whether SlicedOptimizerStep::Create takes the sliced step for `optimizer`
// on a two-variable store (the second frozen when `frozen`).
bool Applies(comm::Communicator& comm, const std::string& optimizer_text, bool frozen,
             bool gradients_final) {
  model::ParameterStore params;
  params.AddVariable("kernel", Shape({30, 7}));
  params.AddVariable("bias", Shape({7}), /*trainable=*/!frozen);
  params.Finalize();
  auto grads = comm.AllocateGradientBuffer(params.size());
  EXPECT_TRUE(grads.ok());
  params.UseGradientStorage(*grads);
  auto optimizer = optimizer::Optimizer::Create(Job(optimizer_text).optimizer(), params);
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  auto step = SlicedOptimizerStep::Create(comm, **optimizer, params, gradients_final);
  EXPECT_TRUE(step.ok()) << step.status();
  return step.ok() && *step != nullptr;
}

TEST(SlicedOptimizerStepCreate, FallsBackWhereAFloatsUpdateNeedsOthers) {
  auto comm = Comm();
  EXPECT_TRUE(Applies(*comm, "adam {}", false, true));
  EXPECT_TRUE(Applies(*comm, "adamw {}", false, true));
  EXPECT_FALSE(Applies(*comm, "adam {}", true, true));             // a frozen variable
  EXPECT_FALSE(Applies(*comm, "adam {}", false, false));           // e.g. regularizers
  EXPECT_FALSE(Applies(*comm, "adam {} clipnorm: 1", false, true));
  EXPECT_FALSE(Applies(*comm, "adam {} global_clipnorm: 1", false, true));
  // One rank's SHARDTRAIN_SLICED_OPTIMIZER=0 turns it off on every rank.
  if (comm->rank() == comm->world_size() - 1) setenv("SHARDTRAIN_SLICED_OPTIMIZER", "0", 1);
  EXPECT_FALSE(Applies(*comm, "adam {}", false, true));
  unsetenv("SHARDTRAIN_SLICED_OPTIMIZER");
}

}  // namespace
}  // namespace shardtrain
