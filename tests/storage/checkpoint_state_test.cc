// The `checkpoint` state file and the commit protocol: byte-exact text as in
// shared/spec/tf-formats.md §2.1, CheckpointManager retention (§2.4), and
// crash safety — a simulated crash after any step of a commit leaves a
// readable latest checkpoint (the old one or the new one).
#include <gtest/gtest.h>

#include <functional>

#include "storage/checkpoint/commit.h"
#include "storage/checkpoint/state_file.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "storage/tensor_bundle/bundle_writer.h"

namespace shardtrain::storage {
namespace {

TEST(CheckpointStateTest, FormatsLikeTensorFlow) {
  // The CheckpointManager example of spec §2.1, byte for byte, with the
  // doubles as Python's repr() prints them (the spec's example values are
  // illustrative: repr(1718000013.7012345) is '1718000013.7012346').
  tf::CheckpointState state;
  state.set_model_checkpoint_path("ckpt-5");
  for (const char* path : {"ckpt-3", "ckpt-4", "ckpt-5"}) state.add_all_model_checkpoint_paths(path);
  for (double t : {1718000003.5123456, 1718000013.7012345, 1718000023.8899999}) {
    state.add_all_model_checkpoint_timestamps(t);
  }
  state.set_last_preserved_timestamp(1718000000.0454321);
  EXPECT_EQ(FormatCheckpointState(state),
            "model_checkpoint_path: \"ckpt-5\"\n"
            "all_model_checkpoint_paths: \"ckpt-3\"\n"
            "all_model_checkpoint_paths: \"ckpt-4\"\n"
            "all_model_checkpoint_paths: \"ckpt-5\"\n"
            "all_model_checkpoint_timestamps: 1718000003.5123456\n"
            "all_model_checkpoint_timestamps: 1718000013.7012346\n"
            "all_model_checkpoint_timestamps: 1718000023.8899999\n"
            "last_preserved_timestamp: 1718000000.045432\n");
  tf::CheckpointState integral;
  integral.set_model_checkpoint_path("a\"b\\c\n");
  // Python: repr(1718000000.0), repr(1e16), repr(1.5e-5), repr(0.0001), repr(1.2345678901234568e+17).
  for (double t : {1718000000.0, 1e16, 1.5e-5, 0.0001, 123456789012345678.0}) {
    integral.add_all_model_checkpoint_timestamps(t);
  }
  EXPECT_EQ(FormatCheckpointState(integral),
            "model_checkpoint_path: \"a\\\"b\\\\c\\n\"\n"
            "all_model_checkpoint_timestamps: 1718000000.0\n"
            "all_model_checkpoint_timestamps: 1e+16\n"
            "all_model_checkpoint_timestamps: 1.5e-05\n"
            "all_model_checkpoint_timestamps: 0.0001\n"
            "all_model_checkpoint_timestamps: 1.2345678901234568e+17\n");
}

TEST(CheckpointStateTest, ParsesFieldsInAnyOrderAndRoundTrips) {
  auto parsed = ParseCheckpointState(
      "all_model_checkpoint_paths: \"weights\"\n  model_checkpoint_path:   \"weights\"\n", "x");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->model_checkpoint_path(), "weights");
  EXPECT_EQ(parsed->all_model_checkpoint_paths_size(), 1);
  EXPECT_EQ(ParseCheckpointState("model_checkpoint_path: 3 bogus", "dir/checkpoint").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(CheckpointStateTest, ResolvesRelativeAndAbsolutePaths) {
  EXPECT_EQ(ResolveCheckpointPath("/run/ckpts", "ckpt-3"), "/run/ckpts/ckpt-3");
  EXPECT_EQ(ResolveCheckpointPath("/run/ckpts", "/elsewhere/w"), "/elsewhere/w");
}

// Writes a one-tensor data file for `rank` of `prefix` (as a rank does:
// temp name, fsync, rename) and returns its part.
StatusOr<CheckpointPart> WritePart(FileSystem* fs, const std::string& prefix, int rank,
                                   int num_shards, float value) {
  const std::string final_name = DataFilename(prefix, rank, num_shards);
  const std::string temp = final_name + ".tempstate42";
  CheckpointPart part;
  part.rank = rank;
  {
    ASSIGN_OR_RETURN(auto writer, BundleShardWriter::Open(fs, temp, rank));
    RETURN_IF_ERROR(writer->Add("v" + std::to_string(rank), DType::kFloat32, {}, &value,
                                sizeof(value)));
    RETURN_IF_ERROR(writer->Finish());
    part.entries = writer->entries();
  }
  RETURN_IF_ERROR(fs->Rename(temp, final_name));
  return part;
}

StatusOr<CommitResult> SaveCheckpoint(FileSystem* fs, const std::string& prefix, float value,
                                      const RetentionPolicy& policy, double now) {
  std::vector<CheckpointPart> parts;
  for (int rank = 0; rank < 2; ++rank) {
    ASSIGN_OR_RETURN(CheckpointPart part, WritePart(fs, prefix, rank, 2, value + rank));
    parts.push_back(std::move(part));
  }
  RETURN_IF_ERROR(fs->SyncDir(DirName(prefix)));
  return CommitCheckpoint(fs, prefix, 2, std::move(parts), policy, now);
}

float ReadV0(FileSystem* fs, const std::string& prefix) {
  auto reader = BundleReader::Open(fs, prefix);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return -1;
  float value = 0;
  EXPECT_TRUE((*reader)->Read("v0", &value, sizeof(value)).ok());
  return value;
}

TEST(CommitTest, TwoShardCheckpointIsReadableAndLatest) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/run/ckpt").ok());
  auto result = SaveCheckpoint(&fs, "/run/ckpt/ckpt-10", 3.0f, {}, 1000.0);
  ASSERT_TRUE(result.ok()) << result.status();
  auto latest = LatestCheckpoint(&fs, "/run/ckpt");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, "/run/ckpt/ckpt-10");
  auto reader = BundleReader::Open(&fs, *latest);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->header().num_shards(), 2);
  float v1 = 0;
  ASSERT_TRUE((*reader)->Read("v1", &v1, sizeof(v1)).ok());
  EXPECT_EQ(v1, 4.0f);
  auto state = ReadCheckpointState(&fs, "/run/ckpt");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(FormatCheckpointState(*state),
            "model_checkpoint_path: \"ckpt-10\"\n"
            "all_model_checkpoint_paths: \"ckpt-10\"\n"
            "all_model_checkpoint_timestamps: 1000.0\n"
            "last_preserved_timestamp: 999.0\n");
}

TEST(CommitTest, RefusesMissingOrEmptyParts) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/c").ok());
  std::vector<CheckpointPart> only_rank0 = {*WritePart(&fs, "/c/p", 0, 2, 1.0f)};
  auto missing = CommitCheckpoint(&fs, "/c/p", 2, only_rank0, {}, 1.0);
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.status().message().find("1 of 2 ranks reported"), std::string::npos);
  std::vector<CheckpointPart> empty = {*WritePart(&fs, "/c/p", 0, 2, 1.0f), CheckpointPart{1, {}}};
  auto no_tensors = CommitCheckpoint(&fs, "/c/p", 2, empty, {}, 1.0);
  EXPECT_NE(no_tensors.status().message().find("rank 1 reported no tensors"), std::string::npos);
  EXPECT_FALSE(fs.FileExists("/c/p.index"));
  EXPECT_FALSE(fs.FileExists("/c/checkpoint"));
}

TEST(CommitTest, MaxToKeepDeletesOldestAndKeepsEveryNHours) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/r").ok());
  RetentionPolicy policy{2, 1.0};  // keep 2; preserve one per hour
  // Saves at t = 0 s, 1800 s, 3600 s, 5400 s (first state: last_preserved = -1).
  for (int i = 0; i < 4; ++i) {
    auto result =
        SaveCheckpoint(&fs, "/r/ckpt-" + std::to_string(i), static_cast<float>(i), policy, i * 1800.0);
    ASSERT_TRUE(result.ok()) << result.status();
  }
  auto state = ReadCheckpointState(&fs, "/r");
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->all_model_checkpoint_paths_size(), 2);
  EXPECT_EQ(state->all_model_checkpoint_paths(0), "ckpt-2");
  EXPECT_EQ(state->all_model_checkpoint_paths(1), "ckpt-3");
  // ckpt-0 (t=0, 1 s after last_preserved=-1: not an hour) was deleted; ckpt-1 (t=1800)
  // neither; ckpt-2 is listed. With a 1 h rule, the first checkpoint >= 3600 s after
  // the last preserved would be kept on disk unlisted: none left the list yet.
  EXPECT_FALSE(fs.FileExists("/r/ckpt-0.index"));
  EXPECT_FALSE(fs.FileExists("/r/ckpt-0.data-00000-of-00002"));
  EXPECT_FALSE(fs.FileExists("/r/ckpt-1.index"));
  // Two more saves push ckpt-2 (t=3600, >= 1 h after -1) out: it is preserved, ckpt-3 is not.
  ASSERT_TRUE(SaveCheckpoint(&fs, "/r/ckpt-4", 4.0f, policy, 7200.0).ok());
  ASSERT_TRUE(SaveCheckpoint(&fs, "/r/ckpt-5", 5.0f, policy, 9000.0).ok());
  EXPECT_TRUE(fs.FileExists("/r/ckpt-2.index"));
  EXPECT_FALSE(fs.FileExists("/r/ckpt-3.index"));
  state = ReadCheckpointState(&fs, "/r");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->last_preserved_timestamp(), 3600.0);
  EXPECT_EQ(state->model_checkpoint_path(), "ckpt-5");
}

// Every prefix of a commit's file-system operations, followed by a crash,
// leaves LatestCheckpoint() naming a complete checkpoint holding the old or
// the new values.
class CountingFileSystem : public MemoryFileSystem {
 public:
  int budget = 1 << 30;  // mutating operations allowed before the "crash"
  Status Spend() { return budget-- > 0 ? OkStatus() : UnavailableError("crashed"); }
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    RETURN_IF_ERROR(Spend());
    return MemoryFileSystem::NewWritableFile(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    RETURN_IF_ERROR(Spend());
    return MemoryFileSystem::Rename(from, to);
  }
  Status DeleteFile(const std::string& path) override {
    RETURN_IF_ERROR(Spend());
    return MemoryFileSystem::DeleteFile(path);
  }
  Status SyncDir(const std::string& dir) override {
    RETURN_IF_ERROR(Spend());
    return MemoryFileSystem::SyncDir(dir);
  }
};

TEST(CommitTest, CrashAtAnyPointLeavesAReadableLatestCheckpoint) {
  int completed_at = -1;
  for (int budget = 0; budget < 100 && completed_at < 0; ++budget) {
    CountingFileSystem fs;
    ASSERT_TRUE(fs.CreateDirs("/r").ok());
    ASSERT_TRUE(fs.SyncDir("/").ok());
    ASSERT_TRUE(SaveCheckpoint(&fs, "/r/ckpt-1", 1.0f, {1, 0}, 10.0).ok());
    fs.budget = budget;
    auto second = SaveCheckpoint(&fs, "/r/ckpt-2", 2.0f, {1, 0}, 20.0);
    if (second.ok()) completed_at = budget;
    fs.budget = 1 << 30;
    fs.SimulateCrash();
    auto latest = LatestCheckpoint(&fs, "/r");
    ASSERT_TRUE(latest.ok()) << "crash after " << budget << " operations: " << latest.status();
    const float expected = *latest == "/r/ckpt-2" ? 2.0f : 1.0f;
    EXPECT_EQ(ReadV0(&fs, *latest), expected) << "crash after " << budget << " operations";
    if (second.ok()) {
      EXPECT_EQ(*latest, "/r/ckpt-2") << "a completed commit must survive";
    }
    // The next start sweeps what the interrupted save left.
    auto swept = SweepUnfinishedCheckpoints(&fs, "/r");
    ASSERT_TRUE(swept.ok()) << swept.status();
    auto names = fs.ListDir("/r");
    ASSERT_TRUE(names.ok());
    for (const std::string& name : *names) {
      EXPECT_EQ(name.find("tempstate"), std::string::npos) << name;
      EXPECT_NE(name.rfind("checkpoint.tmp", 0), 0u) << name;
    }
  }
  EXPECT_GT(completed_at, 5) << "the commit should take several durable steps";
}

TEST(CommitTest, SweepRemovesOrphanDataFilesOnly) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/r").ok());
  ASSERT_TRUE(SaveCheckpoint(&fs, "/r/ckpt-1", 1.0f, {}, 1.0).ok());
  ASSERT_TRUE(WritePart(&fs, "/r/ckpt-2", 0, 2, 5.0f).ok());  // a save that never committed
  auto swept = SweepUnfinishedCheckpoints(&fs, "/r");
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, std::vector<std::string>{"ckpt-2.data-00000-of-00002"});
  EXPECT_TRUE(fs.FileExists("/r/ckpt-1.data-00001-of-00002"));
}

}  // namespace
}  // namespace shardtrain::storage
