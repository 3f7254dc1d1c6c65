// Exact resume on the strict emulated device under mpirun (2 ranks, the MPI
// communicator): an uninterrupted CPU run of 50 steps (2 epochs of 25;
// dropout, Adam) on the same ranks against a strict run that saves after
// step 30 (mid-epoch 2) through the Checkpointer (each rank writes its data
// file; an in-process coordinator on rank 0 commits) and stops, then new
// strict trainers that resume from that checkpoint as train does
// (FindResumeCandidates on rank 0, ResumeTraining: the ranks' parallel
// RestoreOnAllRanks) and train to the end. Every batch's and epoch's logs,
// the final weights and every checkpoint file (.index and each rank's data
// file of steps 25, 30 and 50) have the CPU run's bits, on every rank; the
// strict device records no misuse.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "storage/io/file_system.h"
#include "tests/mpi/mpi_test_main.h"
#include "tests/worker/trainer_test_util.h"
#include "tests/worker/training_test_callbacks.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/resume.h"
#include "worker/comm/communicator_factory.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {
namespace {

namespace fs = std::filesystem;
using testing::CheckpointFiles;
using testing::SaveAtStep;
using testing::StepLogRecorder;

constexpr int64_t kFeatures = 20;
constexpr int64_t kBatch = 16;
constexpr uint64_t kSeed = 13;

// 20 -> 24 (ReLU) -> dropout 0.2 -> 4 with Adam and accuracy, global batches
// of 16 for 2 epochs, a checkpoint after each epoch (all kept), in `run_dir`.
config::JobConfig Job(const std::string& run_dir) {
  const std::string text = R"pb(
    model {
      input_shape: [ 20 ]
      layers { dense { units: 24 activation: RELU } }
      layers { dropout { rate: 0.2 } }
      layers { dense { units: 4 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    metrics: "accuracy"
    data { dir: "unused" num_classes: 4 }
    checkpoint { max_to_keep: -1 }
    training { batch_size: 16 epochs: 2 seed: 13 }
  )pb";
  return testing::ValidatedJob(text, "strict resume mpi job", run_dir);
}

// A coordinator on rank 0 (it commits checkpoints) and every rank's client.
struct ControlPlane {
  std::unique_ptr<coordinator::Coordinator> coordinator;
  std::unique_ptr<coordinator::CoordinatorClient> client;
};

ControlPlane JoinControlPlane(comm::Communicator& comm, const data::Dataset& train) {
  ControlPlane plane;
  int64_t port = 0;
  if (comm.rank() == 0) {
    coordinator::CoordinatorOptions options;
    options.http_port = -1;
    options.world_size = comm.world_size();
    options.seed = kSeed;
    options.global_batch = kBatch;
    options.shard_sizes = train.shard_sizes;
    auto started = coordinator::Coordinator::Start(options);
    EXPECT_TRUE(started.ok()) << started.status();
    if (started.ok()) {
      plane.coordinator = std::move(*started);
      port = plane.coordinator->port();
    }
  }
  const Status shared = comm.Broadcast(&port, sizeof(port), 0);
  EXPECT_TRUE(shared.ok()) << shared;
  auto client = coordinator::CoordinatorClient::Connect("127.0.0.1", static_cast<int>(port), "",
                                                        comm.rank(), comm.world_size(), 10);
  EXPECT_TRUE(client.ok()) << client.status();
  if (client.ok()) plane.client = std::move(*client);
  return plane;
}

// What one training session left on this rank.
struct Session {
  StepLogRecorder logs;
  std::vector<float> weights;
  std::optional<Resumed> resumed;  // the checkpoint it resumed from
  bool stopped = false;
};

// One session of `job` on `backend` on every rank, as train runs one: with
// `resume` it restores the newest checkpoint of RUN_DIR/checkpoints (rank 0
// lists the candidates; ResumeTraining restores on all ranks), then Fit with
// the Checkpointer, which also saves after global step `save_at` and, with
// `stop`, ends training there.
Session RunSession(kernels::KernelBackend& backend, comm::Communicator& comm,
                   const config::JobConfig& job, const data::Dataset& train,
                   const data::Dataset& val, bool resume, int64_t save_at, bool stop) {
  Session session;
  auto trainer = Trainer::Create(job, &backend, &comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  ControlPlane plane = JoinControlPlane(comm, train);
  if (!trainer.ok() || plane.client == nullptr) return session;
  fs::create_directories(CheckpointDir(job));
  if (resume) {
    ResumeCandidates candidates;  // other ranks: rank 0's are used
    if (comm.rank() == 0) {
      auto found =
          FindResumeCandidates(storage::PosixFileSystem(), CheckpointDir(job), ResumeOptions{});
      EXPECT_TRUE(found.ok()) << found.status();
      if (found.ok()) candidates = *found;
    }
    std::ostringstream warnings;
    auto resumed = ResumeTraining(storage::PosixFileSystem(), candidates, job,
                                  /*allow_config_change=*/false, **trainer, comm, warnings);
    EXPECT_TRUE(resumed.ok() && resumed->has_value()) << resumed.status();
    EXPECT_EQ(warnings.str(), "");
    if (!resumed.ok() || !resumed->has_value()) return session;
    session.resumed = **resumed;
  }
  Checkpointer checkpointer(job, trainer->get(), &comm, plane.client.get(),
                            storage::PosixFileSystem(),
                            session.resumed ? &session.resumed->state : nullptr);
  SaveAtStep save(&checkpointer, trainer->get(), save_at, stop);
  testing::RankPlanner planner(&train, kSeed, kBatch, comm.rank(), comm.world_size());
  const Status fit = (*trainer)->Fit(&planner, &val, {&session.logs, &checkpointer, &save});
  EXPECT_TRUE(fit.ok()) << fit;
  EXPECT_TRUE(plane.client->Done().ok());
  const Status barrier = comm.Barrier();  // every rank's Done before the coordinator goes
  EXPECT_TRUE(barrier.ok()) << barrier;
  session.stopped = (*trainer)->stopped();
  session.weights = testing::HostWeights(**trainer);
  return session;
}

// Rank 0 moves RUN_DIR/checkpoints to RUN_DIR/`name` between barriers; every
// rank returns that folder.
std::string MoveCheckpoints(comm::Communicator& comm, const config::JobConfig& job,
                            const std::string& name) {
  const std::string moved = (fs::path(job.training().run_dir()) / name).string();
  EXPECT_TRUE(comm.Barrier().ok());
  if (comm.rank() == 0) fs::rename(CheckpointDir(job), moved);
  EXPECT_TRUE(comm.Barrier().ok());
  return moved;
}

TEST(StrictResumeMpiTest, ResumedMidEpochMatchesAnUninterruptedCpuRunBitwise) {
  auto made = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  ASSERT_TRUE(made.ok()) << made.status();
  comm::Communicator& comm = **made;
  int64_t pid = getpid();  // rank 0's: one run folder for every rank
  ASSERT_TRUE(comm.Broadcast(&pid, sizeof(pid), 0).ok());
  const std::string run_dir =
      (fs::temp_directory_path() / ("strict_resume_mpi_test_" + std::to_string(pid))).string();
  if (comm.rank() == 0) fs::remove_all(run_dir);
  ASSERT_TRUE(comm.Barrier().ok());
  const config::JobConfig job = Job(run_dir);
  const data::Dataset train = testing::TwoShardDataset(400, 1, kFeatures, 4),
                      val = testing::TwoShardDataset(61, 2, kFeatures, 4);
  auto cpu = kernels::CreateCpuBackend();
  std::unique_ptr<kernels::KernelBackend> strict = kernels::CreateStrictDeviceBackend();

  const Session expected = RunSession(*cpu, comm, job, train, val, false, 30, /*stop=*/false);
  const auto cpu_files = CheckpointFiles(MoveCheckpoints(comm, job, "cpu"));
  const Session first = RunSession(*strict, comm, job, train, val, false, 30, /*stop=*/true);
  const Session second = RunSession(*strict, comm, job, train, val, /*resume=*/true, -1, false);
  const auto strict_files = CheckpointFiles(MoveCheckpoints(comm, job, "strict"));
  EXPECT_TRUE(strict->CheckErrors().ok()) << strict->CheckErrors();

  ASSERT_EQ(expected.logs.batches.size(), 50u);
  ASSERT_EQ(expected.logs.epochs.size(), 2u);
  EXPECT_FALSE(expected.stopped);
  EXPECT_TRUE(first.stopped);
  EXPECT_FALSE(second.stopped);
  const auto resume_at = expected.logs.batches.find(31);
  EXPECT_EQ(first.logs.batches,
            decltype(expected.logs.batches)(expected.logs.batches.begin(), resume_at));  // bitwise
  EXPECT_EQ(first.logs.epochs, decltype(expected.logs.epochs)({*expected.logs.epochs.begin()}));
  ASSERT_TRUE(second.resumed.has_value());
  EXPECT_EQ(fs::path(second.resumed->prefix).filename().string(), "ckpt-30");
  EXPECT_EQ(second.resumed->state.progress.global_step, 30);
  EXPECT_EQ(second.resumed->state.progress.epoch, 1);
  EXPECT_EQ(second.resumed->state.progress.position, 5 * kBatch);
  EXPECT_EQ(second.resumed->state.iterations, 30);
  EXPECT_EQ(second.logs.batches,
            decltype(expected.logs.batches)(resume_at, expected.logs.batches.end()));
  EXPECT_EQ(second.logs.epochs, decltype(expected.logs.epochs)({*expected.logs.epochs.rbegin()}));
  ASSERT_FALSE(expected.weights.empty());
  ASSERT_EQ(second.weights.size(), expected.weights.size());
  EXPECT_EQ(std::memcmp(second.weights.data(), expected.weights.data(),
                        expected.weights.size() * sizeof(float)),
            0);
  // ckpt-25, ckpt-30 and ckpt-50: an index and one data file per rank each.
  EXPECT_EQ(cpu_files.size(), 3u * (1 + comm.world_size()));
  EXPECT_EQ(strict_files.size(), cpu_files.size());
  for (const auto& [name, bytes] : cpu_files) {
    auto it = strict_files.find(name);
    EXPECT_TRUE(it != strict_files.end()) << name << " missing on the strict device";
    if (it != strict_files.end()) {
      EXPECT_TRUE(it->second == bytes) << name << " differs";
    }
  }
  EXPECT_TRUE(comm.Barrier().ok());  // every rank has read the files
  if (comm.rank() == 0) fs::remove_all(run_dir);
}

}  // namespace
}  // namespace shardtrain::checkpoint
