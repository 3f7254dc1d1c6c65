// RestoreOnAllRanks under mpirun (1, 2 and 3 ranks): the ranks split the
// checkpoint's bytes (cuts inside tensors), and every rank ends with exactly
// the saved weights, optimizer slots and state; damage that only one rank
// reads is reported as DataLoss naming the tensor and file on every rank, and
// a file missing on one rank as NotFound naming that rank on every rank.
// Each rank holds an identical in-memory copy of the checkpoint, as ranks on
// one node see one file.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "storage/io/file_system.h"
#include "tests/mpi/mpi_test_main.h"
#include "tests/worker/checkpoint_test_util.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/checkpoint/restore_on_all_ranks.h"
#include "worker/comm/communicator_factory.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {
namespace {

constexpr char kPrefix[] = "/ckpt/ckpt-7";
constexpr char kDataFile[] = "/ckpt/ckpt-7.data-00000-of-00001";

// 64 → 300 → 10 with Adam: about 0.25 MB of weights and slots, so the cuts
// between ranks (4 KiB-aligned) fall inside tensors. With `wide`,
// 64 → 2100 → 2100 → 10 (55 MB): the 2100 x 2100 kernel and its slots (17.6 MB
// each) are read in many 2 MiB chunks, and a cut falls inside one of them.
config::JobConfig Job(bool wide = false) {
  const std::string units = wide ? "2100" : "300";
  const std::string second = wide ? "layers { dense { units: 2100 activation: RELU } }" : "";
  auto job = ParseJobConfig(R"pb(
    model {
      input_shape: [64]
      layers { dense { units: )pb" + units + R"pb( activation: RELU } })pb" + second + R"pb(
      layers { dense { units: 10 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    data { dir: "unused" num_classes: 10 }
    training { batch_size: 8 epochs: 2 seed: 3 run_dir: "/tmp/unused" }
  )pb", "restore test");
  EXPECT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

// A trainer whose every parameter and slot value is distinct.
std::unique_ptr<Trainer> SavedTrainer(kernels::KernelBackend* backend, bool wide = false) {
  auto trainer = Trainer::Create(Job(wide), backend);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  model::ParameterStore& params = (*trainer)->model().parameters();
  for (int64_t i = 0; i < params.size(); ++i) params.params()[i] = 0.5f + static_cast<float>(i);
  optimizer::Optimizer& opt = (*trainer)->optimizer();
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    for (size_t i = 0; i < opt.slot(s).size(); ++i) {
      opt.slot(s)[i] = -static_cast<float>(s * 1e6 + i);
    }
  }
  opt.set_iterations(77);
  return std::move(*trainer);
}

// Writes the checkpoint of SavedTrainer into `fs`.
void WriteCheckpoint(storage::MemoryFileSystem* fs, Trainer& trainer, bool wide = false) {
  SavedState state;
  state.progress = TrainingProgress{1, 24, 77, 3.5, 20, 24};
  state.config_hash = TrajectoryConfigHash(Job(wide));
  auto tensors = GatherCheckpointTensors(trainer, Job(wide), state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  ASSERT_TRUE(fs->CreateDirs("/ckpt").ok());
  testing::WriteOneShardBundle(fs, kPrefix, *tensors);
}

std::unique_ptr<comm::Communicator> Comm() {
  auto comm = comm::CreateCommunicator("mpi", false, comm::testing::Runtime());
  EXPECT_TRUE(comm.ok()) << comm.status();
  return std::move(*comm);
}

void ExpectEveryRankGetsEveryByte(bool wide) {
  auto backend = kernels::CreateCpuBackend();
  std::unique_ptr<Trainer> saved = SavedTrainer(backend.get(), wide);
  storage::MemoryFileSystem fs;
  WriteCheckpoint(&fs, *saved, wide);
  auto comm = Comm();

  auto fresh = Trainer::Create(Job(wide), backend.get());
  ASSERT_TRUE(fresh.ok());
  StatusOr<SavedState> restored = RestoreOnAllRanks(&fs, kPrefix, **fresh, *comm);
  ASSERT_TRUE(restored.ok()) << restored.status();
  const model::ParameterStore& want = saved->model().parameters();
  const model::ParameterStore& got = (*fresh)->model().parameters();
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.params(), want.params(), want.size() * sizeof(float)), 0);
  for (size_t s = 0; s < saved->optimizer().slot_names().size(); ++s) {
    EXPECT_EQ((*fresh)->optimizer().slot(s), saved->optimizer().slot(s)) << "slot " << s;
  }
  EXPECT_EQ((*fresh)->optimizer().iterations(), 77);
  EXPECT_EQ(restored->progress.global_step, 77);
  EXPECT_EQ(restored->progress.position, 24);
}

TEST(RestoreOnAllRanks, EveryRankGetsEveryByte) { ExpectEveryRankGetsEveryByte(false); }

TEST(RestoreOnAllRanks, EveryRankGetsEveryByteOfLargeTensors) {
  ExpectEveryRankGetsEveryByte(true);
}

// Flips one byte of a model or optimizer variable (on `only_rank`'s copy, or
// on every copy when -1): byte 1000 of the first kernel, or with `last_in_file`
// the last byte of the variable stored last, which lies in the last rank's
// range. Expects DataLoss naming that variable and the file on every rank.
void ExpectDataLossEverywhere(int only_rank, bool last_in_file) {
  auto backend = kernels::CreateCpuBackend();
  std::unique_ptr<Trainer> saved = SavedTrainer(backend.get());
  storage::MemoryFileSystem fs;
  WriteCheckpoint(&fs, *saved);
  auto comm = Comm();
  auto reader = storage::BundleReader::Open(&fs, kPrefix);
  ASSERT_TRUE(reader.ok());
  std::string key = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE";
  uint64_t at = 1000;
  if (last_in_file) {
    int64_t last_offset = -1;
    for (const std::string& k : (*reader)->Keys()) {
      auto e = (*reader)->Entry(k);
      if (k.rfind("layer_with_weights-", 0) == 0 && e.ok() && e->offset() > last_offset) {
        last_offset = e->offset();
        key = k;
        at = static_cast<uint64_t>(e->size()) - 1;
      }
    }
  }
  auto entry = (*reader)->Entry(key);
  ASSERT_TRUE(entry.ok()) << entry.status();
  if (only_rank < 0 || only_rank == comm->rank()) {
    std::string data = *fs.ReadFile(kDataFile);
    data[static_cast<size_t>(entry->offset() + at)] ^= 0x20;
    ASSERT_TRUE(fs.SetFileContent(kDataFile, data).ok());
  }

  auto fresh = Trainer::Create(Job(), backend.get());
  ASSERT_TRUE(fresh.ok());
  Status status = RestoreOnAllRanks(&fs, kPrefix, **fresh, *comm).status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find(key), std::string::npos) << status;
  EXPECT_NE(status.message().find(kDataFile), std::string::npos) << status;
}

TEST(RestoreOnAllRanks, DamageIsDataLossOnEveryRank) { ExpectDataLossEverywhere(-1, false); }

TEST(RestoreOnAllRanks, DamageOnlyTheLastRankReadsIsDataLossOnEveryRank) {
  ExpectDataLossEverywhere(Comm()->world_size() - 1, true);
}

// The data file missing from the last rank's copy only: NotFound (so a
// damaged checkpoint, for a resume to fall back from) on every rank, naming
// the rank that failed.
TEST(RestoreOnAllRanks, DataFileMissingOnOneRankIsNotFoundOnEveryRank) {
  auto backend = kernels::CreateCpuBackend();
  std::unique_ptr<Trainer> saved = SavedTrainer(backend.get());
  storage::MemoryFileSystem fs;
  WriteCheckpoint(&fs, *saved);
  auto comm = Comm();
  const int failing = comm->world_size() - 1;
  if (comm->rank() == failing) {
    EXPECT_TRUE(fs.DeleteFile(kDataFile).ok());
  }

  auto fresh = Trainer::Create(Job(), backend.get());
  ASSERT_TRUE(fresh.ok());
  Status status = RestoreOnAllRanks(&fs, kPrefix, **fresh, *comm).status();
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status;
  EXPECT_TRUE(IsDamagedCheckpoint(status)) << status;
  EXPECT_NE(status.message().find(kDataFile), std::string::npos) << status;
  if (comm->world_size() > 1) {
    const std::string who = "rank " + std::to_string(failing) + " of ";
    EXPECT_NE(status.message().find(who), std::string::npos) << status;
  }
}

}  // namespace
}  // namespace shardtrain::checkpoint
