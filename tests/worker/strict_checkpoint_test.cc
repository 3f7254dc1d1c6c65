// Checkpoints of a device-resident trainer (issue 21): a Trainer on the
// strict emulated device (memory the host cannot touch outside backend calls)
// saves through the Checkpointer, as train does (an in-process coordinator
// commits), the same .index and .data bytes as a Trainer on the CPU backend
// with the same weights and optimizer slots; a CPU checkpoint restores onto
// the strict device (RestoreCheckpoint and the ranks' RestoreOnAllRanks) and
// saves back the same bytes; a checkpoint that does not fit, or a damaged
// one, leaves the device state unchanged; EarlyStopping's best weights
// round-trip through the device; Fit with EarlyStopping and the Checkpointer
// writes the CPU's checkpoints; a strict run stopped mid-epoch and resumed
// as train resumes (FindResumeCandidates, ResumeTraining) ends exactly where
// an uninterrupted CPU run does. Each test's files live under a folder named
// with the test and the pid (ctest runs the cases as concurrent processes).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "tests/worker/trainer_test_util.h"
#include "tests/worker/training_test_callbacks.h"
#include "worker/callbacks/early_stopping.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/restore_on_all_ranks.h"
#include "worker/checkpoint/resume.h"
#include "worker/comm/local_communicator.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {
namespace {

namespace fs = std::filesystem;
using testing::CheckpointFiles;
using testing::FileBytes;
using testing::HostWeights;
using testing::SaveAtStep;
using testing::StepLogRecorder;

// 12 -> 16 (ReLU) -> 3 with Adam (slots m and v), run_dir `run_dir`.
config::JobConfig Job(const std::string& run_dir, int units = 16, const std::string& extra = "") {
  auto job = ParseJobConfig(R"pb(
                                  model { input_shape: [ 12 ]
                                          layers { dense { units:)pb" +
                                std::to_string(units) + R"pb(                                                                                                                           activation: RELU }
                                                                                                                                                                                        }
      layers { dense { units: 3 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    data { dir: "unused" num_classes: 3 }
    training { batch_size: 8 epochs: 3 seed: 11 run_dir: ")pb" +
                                run_dir + R"pb(" }
                                )pb" +
                                extra,
                            "strict checkpoint test");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

std::vector<std::vector<float>> Slots(Trainer& trainer) {
  optimizer::Optimizer& opt = trainer.optimizer();
  std::vector<std::vector<float>> slots;
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    std::vector<float>& slot = slots.emplace_back(static_cast<size_t>(opt.slot_size()));
    EXPECT_TRUE(opt.CopySlotToHost(s, 0, opt.slot_size(), slot.data()).ok());
  }
  return slots;
}

// Slot s float i = base + s + i / 64 (distinct, exact in float).
void SetSlots(Trainer& trainer, float base) {
  optimizer::Optimizer& opt = trainer.optimizer();
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    std::vector<float> slot(static_cast<size_t>(opt.slot_size()));
    for (size_t i = 0; i < slot.size(); ++i) {
      slot[i] = base + static_cast<float>(s) + static_cast<float>(i) / 64.0f;
    }
    ASSERT_TRUE(opt.CopySlotFromHost(s, 0, opt.slot_size(), slot.data()).ok());
  }
}

void SetParams(Trainer& trainer, float base) {
  model::ParameterStore& params = trainer.model().parameters();
  std::vector<float> host(static_cast<size_t>(params.size()));
  for (size_t i = 0; i < host.size(); ++i) host[i] = base - static_cast<float>(i) / 32.0f;
  ASSERT_TRUE(params.CopyParamsFromHost(host.data()).ok());
}

// 12 -> 16 (ReLU) -> dropout 0.25 -> 3 with Adam and accuracy, batches of 8
// for 2 epochs, a checkpoint after each epoch (all kept): on 200 examples,
// 25 steps an epoch. Dropout's masks depend on the global step, Adam's update
// on its iteration count, so a resume must restore both.
config::JobConfig ResumeJob(const std::string& run_dir) {
  const std::string text = R"pb(
    model {
      input_shape: [ 12 ]
      layers { dense { units: 16 activation: RELU } }
      layers { dropout { rate: 0.25 } }
      layers { dense { units: 3 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    metrics: "accuracy"
    data { dir: "unused" num_classes: 3 }
    checkpoint { max_to_keep: -1 }
    training { batch_size: 8 epochs: 2 seed: 17 }
  )pb";
  return testing::ValidatedJob(text, "strict resume test", run_dir);
}

class StrictCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = testing::PerTestRunDir("strict_checkpoint_test_");
    fs::remove_all(run_dir_);
    job_ = Job(run_dir_);
    cpu_ = kernels::CreateCpuBackend();
    strict_ = kernels::CreateStrictDeviceBackend();
  }
  void TearDown() override {
    if (strict_ != nullptr) {
      const Status errors = strict_->CheckErrors();
      EXPECT_TRUE(errors.ok()) << errors;
    }
    fs::remove_all(run_dir_);
  }

  std::unique_ptr<Trainer> MakeTrainer(kernels::KernelBackend* backend,
                                       const config::JobConfig& job) {
    auto trainer = Trainer::Create(job, backend);
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    return trainer.ok() ? std::move(*trainer) : nullptr;
  }

  // An in-process coordinator (it commits checkpoints) and rank 0's client.
  struct Coordinated {
    std::unique_ptr<coordinator::Coordinator> coordinator;
    std::unique_ptr<coordinator::CoordinatorClient> client;
  };
  static Coordinated StartCoordinator() {
    Coordinated c;
    coordinator::CoordinatorOptions options;
    options.http_port = -1;
    options.global_batch = 8;
    options.shard_sizes = {8};
    auto started = coordinator::Coordinator::Start(options);
    EXPECT_TRUE(started.ok()) << started.status();
    if (!started.ok()) return c;
    c.coordinator = std::move(*started);
    auto client =
        coordinator::CoordinatorClient::Connect("127.0.0.1", c.coordinator->port(), "", 0, 1, 5);
    EXPECT_TRUE(client.ok()) << client.status();
    if (client.ok()) c.client = std::move(*client);
    return c;
  }

  // Moves RUN_DIR/checkpoints to RUN_DIR/`name` and returns that folder.
  std::string MoveCheckpoints(const std::string& name) {
    const std::string moved = (fs::path(run_dir_) / name).string();
    fs::rename(CheckpointDir(job_), moved);
    return moved;
  }

  // Saves `trainer` through a Checkpointer into RUN_DIR/checkpoints, moves
  // that folder to RUN_DIR/`name` and returns the checkpoint's prefix there.
  std::string Save(Trainer& trainer, const std::string& name) {
    Coordinated c = StartCoordinator();
    if (c.client == nullptr) return "";
    fs::create_directories(CheckpointDir(job_));
    comm::LocalCommunicator comm;
    Checkpointer checkpointer(job_, &trainer, &comm, c.client.get(), storage::PosixFileSystem(),
                              nullptr);
    auto prefix = checkpointer.Save();
    EXPECT_TRUE(prefix.ok()) << prefix.status();
    EXPECT_TRUE(c.client->Done().ok());
    if (!prefix.ok()) return "";
    return (fs::path(MoveCheckpoints(name)) / fs::path(*prefix).filename()).string();
  }

  // What one training session of the resume test left on the host.
  struct Session {
    StepLogRecorder logs;
    std::vector<float> weights;
    std::optional<Resumed> resumed;  // the checkpoint it resumed from
    bool stopped = false;
  };

  // One session of `job_` on `backend`, as train runs one: with `resume` it
  // restores the newest checkpoint of RUN_DIR/checkpoints (FindResumeCandidates,
  // ResumeTraining), then Fit with the Checkpointer (an in-process
  // coordinator commits), which also saves after global step `save_at` and,
  // with `stop`, ends training there.
  Session RunSession(kernels::KernelBackend* backend, const data::Dataset& train,
                     const data::Dataset& val, bool resume, int64_t save_at, bool stop) {
    Session session;
    auto trainer = MakeTrainer(backend, job_);
    Coordinated c = StartCoordinator();
    if (trainer == nullptr || c.client == nullptr) return session;
    fs::create_directories(CheckpointDir(job_));
    comm::LocalCommunicator comm;
    if (resume) {
      std::string warnings;
      session.resumed = testing::ResumeNewest(job_, *trainer, comm, &warnings);
      EXPECT_EQ(warnings, "");
      if (!session.resumed) return session;
    }
    Checkpointer checkpointer(job_, trainer.get(), &comm, c.client.get(),
                              storage::PosixFileSystem(),
                              session.resumed ? &session.resumed->state : nullptr);
    SaveAtStep save(&checkpointer, trainer.get(), save_at, stop);
    testing::OneRankPlanner planner(&train, job_.training().batch_size(), /*shuffle=*/true);
    const Status fit = trainer->Fit(&planner, &val, {&session.logs, &checkpointer, &save});
    EXPECT_TRUE(fit.ok()) << fit;
    EXPECT_TRUE(c.client->Done().ok());
    session.stopped = trainer->stopped();
    session.weights = HostWeights(*trainer);
    return session;
  }

  // The .index and the one data file of checkpoints `a` and `b` are the same bytes.
  static void ExpectSameFiles(const std::string& a, const std::string& b) {
    for (const char* suffix : {".index", ".data-00000-of-00001"}) {
      const std::string bytes_a = FileBytes(a + suffix), bytes_b = FileBytes(b + suffix);
      EXPECT_FALSE(bytes_a.empty()) << a << suffix;
      EXPECT_TRUE(bytes_a == bytes_b) << a << suffix << " (" << bytes_a.size() << " bytes) != " << b
                                      << suffix << " (" << bytes_b.size() << " bytes)";
    }
  }

  std::string run_dir_;
  config::JobConfig job_;
  std::unique_ptr<kernels::KernelBackend> cpu_;
  std::unique_ptr<kernels::KernelBackend> strict_;
};

TEST_F(StrictCheckpointTest, StrictDeviceSavesTheCpuBytes) {
  auto cpu = MakeTrainer(cpu_.get(), job_);
  auto strict = MakeTrainer(strict_.get(), job_);
  ASSERT_TRUE(cpu && strict);
  ASSERT_EQ(HostWeights(*cpu), HostWeights(*strict));  // the same seed: the same initial weights
  for (Trainer* t : {cpu.get(), strict.get()}) {  // slots that are not all zero
    SetSlots(*t, 0.25f);
    t->optimizer().set_iterations(7);
  }
  const std::string cpu_prefix = Save(*cpu, "cpu");
  const std::string strict_prefix = Save(*strict, "strict");
  ASSERT_FALSE(cpu_prefix.empty() || strict_prefix.empty());
  ExpectSameFiles(cpu_prefix, strict_prefix);
}

// A CPU checkpoint restored onto the strict device, over a perturbed state,
// by the single-process restore and by the ranks' restore (resume's path):
// the device holds the CPU's weights, slots and iteration count, and saves
// the CPU's bytes again.
TEST_F(StrictCheckpointTest, CpuCheckpointRestoresOntoTheStrictDevice) {
  auto cpu = MakeTrainer(cpu_.get(), job_);
  ASSERT_TRUE(cpu);
  SetParams(*cpu, 1.5f);
  SetSlots(*cpu, 0.75f);
  cpu->optimizer().set_iterations(9);
  const std::string cpu_prefix = Save(*cpu, "cpu");
  ASSERT_FALSE(cpu_prefix.empty());

  for (bool on_all_ranks : {false, true}) {
    SCOPED_TRACE(on_all_ranks ? "RestoreOnAllRanks" : "RestoreCheckpoint");
    auto strict = MakeTrainer(strict_.get(), job_);
    ASSERT_TRUE(strict);
    SetParams(*strict, -3.0f);
    SetSlots(*strict, 5.0f);
    strict->optimizer().set_iterations(2);
    StatusOr<SavedState> restored = InternalError("not run");
    if (on_all_ranks) {
      comm::LocalCommunicator comm;
      restored = RestoreOnAllRanks(storage::PosixFileSystem(), cpu_prefix, *strict, comm);
    } else {
      auto reader = storage::BundleReader::Open(storage::PosixFileSystem(), cpu_prefix);
      ASSERT_TRUE(reader.ok()) << reader.status();
      restored = RestoreCheckpoint(**reader, cpu_prefix, *strict);
    }
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_EQ(HostWeights(*strict), HostWeights(*cpu));
    EXPECT_EQ(Slots(*strict), Slots(*cpu));
    EXPECT_EQ(strict->optimizer().iterations(), 9);
    EXPECT_EQ(restored->iterations, 9);
    const std::string again = Save(*strict, on_all_ranks ? "again_all" : "again");
    ASSERT_FALSE(again.empty());
    ExpectSameFiles(cpu_prefix, again);
  }
}

// A checkpoint of another model, or one whose data file is damaged, is
// refused without a byte of the device state changing.
TEST_F(StrictCheckpointTest, FailedRestoreLeavesTheDeviceUnchanged) {
  auto wider = MakeTrainer(cpu_.get(), Job(run_dir_, 32));
  auto cpu = MakeTrainer(cpu_.get(), job_);
  auto strict = MakeTrainer(strict_.get(), job_);
  ASSERT_TRUE(wider && cpu && strict);
  const std::string wider_prefix = Save(*wider, "wider");
  SetParams(*cpu, 2.0f);
  SetSlots(*cpu, 1.0f);
  const std::string damaged_prefix = Save(*cpu, "damaged");
  ASSERT_FALSE(wider_prefix.empty() || damaged_prefix.empty());
  {  // flip a byte of the first tensor's data: a CRC mismatch
    std::fstream data(damaged_prefix + ".data-00000-of-00001",
                      std::ios::binary | std::ios::in | std::ios::out);
    char byte = 0;
    data.seekg(8);
    data.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x40);
    data.seekp(8);
    data.write(&byte, 1);
  }
  SetParams(*strict, -1.0f);
  SetSlots(*strict, 3.0f);
  strict->optimizer().set_iterations(4);
  const std::vector<float> params = HostWeights(*strict);
  const std::vector<std::vector<float>> slots = Slots(*strict);

  auto reader = storage::BundleReader::Open(storage::PosixFileSystem(), wider_prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  Status mismatch = RestoreCheckpoint(**reader, wider_prefix, *strict).status();
  EXPECT_EQ(mismatch.code(), StatusCode::kFailedPrecondition) << mismatch;
  comm::LocalCommunicator comm;
  Status damaged =
      RestoreOnAllRanks(storage::PosixFileSystem(), damaged_prefix, *strict, comm).status();
  EXPECT_EQ(damaged.code(), StatusCode::kDataLoss) << damaged;
  auto damaged_reader = storage::BundleReader::Open(storage::PosixFileSystem(), damaged_prefix);
  ASSERT_TRUE(damaged_reader.ok()) << damaged_reader.status();
  damaged = RestoreCheckpoint(**damaged_reader, damaged_prefix, *strict).status();
  EXPECT_EQ(damaged.code(), StatusCode::kDataLoss) << damaged;

  EXPECT_EQ(HostWeights(*strict), params);
  EXPECT_EQ(Slots(*strict), slots);
  EXPECT_EQ(strict->optimizer().iterations(), 4);
}

// A weights-only checkpoint restores the weights onto the device and zeroes
// the device's slots; saved again it has the CPU's bytes.
TEST_F(StrictCheckpointTest, WeightsOnlyCheckpointOnTheStrictDevice) {
  job_ = Job(run_dir_, 16, "checkpoint { save_weights_only: true }");
  auto cpu = MakeTrainer(cpu_.get(), job_);
  auto strict = MakeTrainer(strict_.get(), job_);
  ASSERT_TRUE(cpu && strict);
  SetParams(*cpu, 0.5f);
  const std::string cpu_prefix = Save(*cpu, "cpu");
  ASSERT_FALSE(cpu_prefix.empty());
  SetSlots(*strict, 2.0f);
  strict->optimizer().set_iterations(3);
  auto reader = storage::BundleReader::Open(storage::PosixFileSystem(), cpu_prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto restored = RestoreCheckpoint(**reader, cpu_prefix, *strict);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(HostWeights(*strict), HostWeights(*cpu));
  EXPECT_EQ(Slots(*strict), Slots(*cpu));  // zero on both
  EXPECT_EQ(strict->optimizer().iterations(), 0);
  const std::string again = Save(*strict, "again");
  ASSERT_FALSE(again.empty());
  ExpectSameFiles(cpu_prefix, again);
}

// restore_best_weights, patience 1 on loss [1.0, 2.0]: epoch 1's weights are
// the best, epoch 2 stops and puts them back, on the strict device as on the
// CPU; the callback state holds them for checkpoints.
TEST_F(StrictCheckpointTest, EarlyStoppingRestoresBestWeightsOnTheStrictDevice) {
  job_ = Job(run_dir_, 16,
             "callbacks { early_stopping { monitor: \"loss\" patience: 1 "
             "restore_best_weights: true } }");
  std::vector<float> best[2];
  std::vector<float> saved_best[2];
  for (int b = 0; b < 2; ++b) {
    auto trainer = MakeTrainer(b == 0 ? cpu_.get() : strict_.get(), job_);
    ASSERT_TRUE(trainer);
    callbacks::EarlyStopping stopping(job_.callbacks().early_stopping(), trainer.get(), nullptr);
    callbacks::TrainBegin begin;
    begin.epochs = 3;
    ASSERT_TRUE(stopping.OnTrainBegin(begin).ok());
    SetParams(*trainer, 1.0f);
    best[b] = HostWeights(*trainer);
    callbacks::EpochEnd end;
    end.epoch = 1;
    end.logs = {{"loss", 1.0}, {"accuracy", 0.5}};
    Status status = stopping.OnEpochEnd(end);
    ASSERT_TRUE(status.ok()) << status;
    SetParams(*trainer, -7.0f);
    end.epoch = 2;
    end.logs = {{"loss", 2.0}, {"accuracy", 0.5}};
    status = stopping.OnEpochEnd(end);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(callbacks::EarlyStopping::StoppedEpoch(trainer->callback_state()), 2);
    EXPECT_EQ(HostWeights(*trainer), best[b]);
    saved_best[b] = trainer->callback_state().vectors["early_stopping/best_weights"];
    EXPECT_EQ(saved_best[b], best[b]);
  }
  EXPECT_EQ(best[0], best[1]);
}

// Fit with EarlyStopping (restore_best_weights) and the Checkpointer as train
// runs them, 3 epochs of 5 steps, a checkpoint every 4 steps and the final
// one: on the strict device every checkpoint (weights and slots after real
// Adam steps, the best weights in the callback state) has the CPU's bytes.
TEST_F(StrictCheckpointTest, FitWritesTheCpuCheckpointsOnTheStrictDevice) {
  job_ = Job(run_dir_, 16,
             "checkpoint { save_freq: \"4\" max_to_keep: -1 } "
             "callbacks { early_stopping { monitor: \"loss\" patience: 5 "
             "restore_best_weights: true } }");
  const data::Dataset train = testing::SeparableDataset(40, 1);
  std::map<std::string, std::string> files[2];
  for (int b = 0; b < 2; ++b) {
    auto trainer = MakeTrainer(b == 0 ? cpu_.get() : strict_.get(), job_);
    ASSERT_TRUE(trainer);
    Coordinated c = StartCoordinator();
    ASSERT_NE(c.client, nullptr);
    fs::create_directories(CheckpointDir(job_));
    comm::LocalCommunicator comm;
    callbacks::EarlyStopping stopping(job_.callbacks().early_stopping(), trainer.get(), nullptr);
    Checkpointer checkpointer(job_, trainer.get(), &comm, c.client.get(),
                              storage::PosixFileSystem(), nullptr);
    testing::OneRankPlanner planner(&train, job_.training().batch_size(), /*shuffle=*/true);
    const Status fit = trainer->Fit(&planner, nullptr, {&stopping, &checkpointer});
    ASSERT_TRUE(fit.ok()) << fit;
    EXPECT_TRUE(c.client->Done().ok());
    files[b] = CheckpointFiles(MoveCheckpoints(b == 0 ? "cpu" : "strict"));
  }
  EXPECT_EQ(files[0].size(), 8u);  // steps 4, 8, 12 and 15: an index and a data file each
  ASSERT_EQ(files[0].size(), files[1].size());
  for (const auto& [name, bytes] : files[0]) {
    EXPECT_TRUE(files[1][name] == bytes) << name << " differs";
  }
}

// EarlyStopping (restore_best_weights) with step saves due at epoch ends (5
// steps an epoch, save_freq 5): mode max on a falling loss stops after epoch 2
// and puts epoch 1's weights back, and the step-10 checkpoint, taken at
// epoch 2's end, holds them (the weights the job ends with), not the weights
// before the restore.
TEST_F(StrictCheckpointTest, StepSaveAtAnEpochEndHoldsEarlyStoppingsRestoredWeights) {
  job_ = Job(run_dir_, 16,
             "checkpoint { save_freq: \"5\" max_to_keep: -1 } "
             "callbacks { early_stopping { monitor: \"loss\" mode: \"max\" patience: 1 "
             "restore_best_weights: true } }");
  const data::Dataset train = testing::SeparableDataset(40, 1);
  auto trainer = MakeTrainer(cpu_.get(), job_);
  ASSERT_TRUE(trainer);
  Coordinated c = StartCoordinator();
  ASSERT_NE(c.client, nullptr);
  fs::create_directories(CheckpointDir(job_));
  comm::LocalCommunicator comm;
  callbacks::EarlyStopping stopping(job_.callbacks().early_stopping(), trainer.get(), nullptr);
  Checkpointer checkpointer(job_, trainer.get(), &comm, c.client.get(), storage::PosixFileSystem(),
                            nullptr);
  testing::OneRankPlanner planner(&train, job_.training().batch_size(), /*shuffle=*/true);
  const Status fit = trainer->Fit(&planner, nullptr, {&stopping, &checkpointer});
  ASSERT_TRUE(fit.ok()) << fit;
  ASSERT_TRUE(trainer->stopped());
  EXPECT_EQ(callbacks::EarlyStopping::StoppedEpoch(trainer->callback_state()), 2);
  ASSERT_TRUE(checkpointer.OnTrainEnd().ok());  // as train ends a stopped fit
  EXPECT_TRUE(c.client->Done().ok());
  EXPECT_EQ(CheckpointFiles(CheckpointDir(job_)).size(), 4u);  // steps 5 and 10

  auto fresh = MakeTrainer(cpu_.get(), job_);
  ASSERT_TRUE(fresh);
  const std::optional<Resumed> resumed = testing::ResumeNewest(job_, *fresh, comm, nullptr);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->state.progress.global_step, 10);
  EXPECT_EQ(HostWeights(*fresh), HostWeights(*trainer));
}

// Exact resume on the strict device: an uninterrupted CPU run of 50 steps (2
// epochs of 25; dropout, Adam) against a strict run that saves after step 30
// (mid-epoch 2) through the Checkpointer and stops, then a new strict trainer
// that resumes from that checkpoint as train does and trains to the end. The
// logs of steps 1..30 and 31..50 and of both epochs, the final weights and
// every checkpoint (the epoch-1 save at step 25, the mid-epoch one at 30, the
// final one at 50) have the CPU run's bits.
TEST_F(StrictCheckpointTest, StrictRunResumedMidEpochMatchesAnUninterruptedCpuRun) {
  job_ = ResumeJob(run_dir_);
  const data::Dataset train = testing::SeparableDataset(200, 1);
  const data::Dataset val = testing::SeparableDataset(50, 2);
  const Session cpu = RunSession(cpu_.get(), train, val, false, /*save_at=*/30, /*stop=*/false);
  const std::map<std::string, std::string> cpu_files = CheckpointFiles(MoveCheckpoints("cpu"));
  const Session first = RunSession(strict_.get(), train, val, false, 30, /*stop=*/true);
  const Session second = RunSession(strict_.get(), train, val, /*resume=*/true, -1, false);
  const std::map<std::string, std::string> strict_files =
      CheckpointFiles(MoveCheckpoints("strict"));

  ASSERT_EQ(cpu.logs.batches.size(), 50u);
  ASSERT_EQ(cpu.logs.epochs.size(), 2u);
  EXPECT_FALSE(cpu.stopped);
  EXPECT_TRUE(first.stopped);
  EXPECT_FALSE(second.stopped);
  std::map<int64_t, std::vector<double>> cpu_first(cpu.logs.batches.begin(),
                                                   cpu.logs.batches.find(31));
  std::map<int64_t, std::vector<double>> cpu_rest(cpu.logs.batches.find(31),
                                                  cpu.logs.batches.end());
  EXPECT_EQ(first.logs.batches, cpu_first);  // bitwise: == on doubles
  EXPECT_EQ(first.logs.epochs, (std::map<int64_t, std::vector<double>>{*cpu.logs.epochs.begin()}));
  ASSERT_TRUE(second.resumed.has_value());
  const TrainingProgress& from = second.resumed->state.progress;
  EXPECT_EQ(fs::path(second.resumed->prefix).filename().string(), "ckpt-30");
  EXPECT_EQ(from.global_step, 30);
  EXPECT_EQ(from.epoch, 1);
  EXPECT_EQ(from.position, 40);
  EXPECT_EQ(second.resumed->state.iterations, 30);
  EXPECT_EQ(second.logs.batches, cpu_rest);
  EXPECT_EQ(second.logs.epochs,
            (std::map<int64_t, std::vector<double>>{*cpu.logs.epochs.rbegin()}));
  ASSERT_FALSE(cpu.weights.empty());
  ASSERT_EQ(second.weights.size(), cpu.weights.size());
  EXPECT_EQ(
      std::memcmp(second.weights.data(), cpu.weights.data(), cpu.weights.size() * sizeof(float)),
      0);
  // ckpt-25, ckpt-30 and ckpt-50: an index and a data file each.
  EXPECT_EQ(cpu_files.size(), 6u);
  ASSERT_EQ(strict_files.size(), cpu_files.size());
  for (const auto& [name, bytes] : cpu_files) {
    auto it = strict_files.find(name);
    ASSERT_NE(it, strict_files.end()) << name << " missing on the strict device";
    EXPECT_TRUE(it->second == bytes) << name << " differs";
  }
}

}  // namespace
}  // namespace shardtrain::checkpoint
