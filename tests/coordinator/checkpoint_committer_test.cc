// The coordinator's half of the two-phase checkpoint commit on an in-memory
// file system: each refused part or commit names its status code, a commit
// needs every rank's part of the same prefix, and a committed prefix's parts
// are gone afterwards.
#include "coordinator/checkpoint_committer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace shardtrain::coordinator {
namespace {

constexpr char kPrefix[] = "/run/ckpt-10";

CheckpointShardWritten Part(int rank, int num_shards, const std::string& prefix = kPrefix) {
  CheckpointShardWritten part;
  part.set_rank(rank);
  part.set_prefix(prefix);
  part.set_num_shards(num_shards);
  part.set_step(10);
  CheckpointShardWritten::Entry* entry = part.add_entries();
  entry->set_key("v" + std::to_string(rank));
  entry->mutable_entry()->set_shard_id(rank);
  entry->mutable_entry()->set_size(4);
  return part;
}

CheckpointCommitRequest Commit(int num_shards, const std::string& prefix = kPrefix) {
  CheckpointCommitRequest commit;
  commit.set_prefix(prefix);
  commit.set_num_shards(num_shards);
  commit.set_step(10);
  commit.set_max_to_keep(5);
  return commit;
}

// The data file of `rank`, as that rank would have written it.
void WriteDataFile(storage::FileSystem* fs, int rank, int num_shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s.data-%05d-of-%05d", kPrefix, rank, num_shards);
  auto file = fs->NewWritableFile(name);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("abcd").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
}

TEST(CheckpointCommitterTest, RefusesMalformedPartsAsInvalidArgument) {
  storage::MemoryFileSystem fs;
  CheckpointCommitter committer(&fs, 2);
  Status other_rank = committer.AddPart(0, Part(1, 2));
  EXPECT_EQ(other_rank, InvalidArgumentError("checkpoint part for rank 1 sent by rank 0"));
  Status other_world = committer.AddPart(0, Part(0, 3));
  EXPECT_EQ(other_world,
            InvalidArgumentError("checkpoint part of 3 shards but the job has 2 ranks"));
  Status relative = committer.AddPart(0, Part(0, 2, "run/ckpt-10"));
  EXPECT_EQ(relative,
            InvalidArgumentError("checkpoint prefix 'run/ckpt-10' is not an absolute path"));
  CheckpointShardWritten empty = Part(0, 2);
  empty.clear_entries();
  EXPECT_EQ(committer.AddPart(0, empty),
            InvalidArgumentError("rank 0 reported no tensors for /run/ckpt-10"));
  CheckpointShardWritten foreign_entry = Part(0, 2);
  foreign_entry.mutable_entries(0)->mutable_entry()->set_shard_id(1);
  EXPECT_EQ(committer.AddPart(0, foreign_entry),
            InvalidArgumentError("rank 0 reported 'v0' in shard 1"));
}

TEST(CheckpointCommitterTest, CommitNeedsEveryRanksPart) {
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/run").ok());
  CheckpointCommitter committer(&fs, 3);
  ASSERT_TRUE(committer.AddPart(1, Part(1, 3)).ok());
  auto missing = committer.Commit(Commit(3), 1000);
  EXPECT_EQ(missing.status(),
            FailedPreconditionError(
                "cannot commit checkpoint /run/ckpt-10: rank(s) 0, 2 did not report their part"));
  auto other_world = committer.Commit(Commit(2), 1000);
  EXPECT_EQ(other_world.status(),
            InvalidArgumentError("commit of 2 shards but the job has 3 ranks"));
  EXPECT_EQ(committer.last_committed(), "");
  EXPECT_EQ(committer.last_committed_step(), -1);
}

TEST(CheckpointCommitterTest, StorageRefusalIsPassedOn) {
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/run").ok());
  CheckpointCommitter committer(&fs, 1);
  ASSERT_TRUE(committer.AddPart(0, Part(0, 1)).ok());
  auto no_data_file = committer.Commit(Commit(1), 1000);  // rank 0's data file was never written
  EXPECT_EQ(no_data_file.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_data_file.status().message().find("but it does not exist"), std::string::npos)
      << no_data_file.status();
  EXPECT_FALSE(fs.FileExists(std::string(kPrefix) + ".index"));
}

TEST(CheckpointCommitterTest, CommitsOnceEveryRankReported) {
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/run").ok());
  CheckpointCommitter committer(&fs, 2);
  for (int rank = 0; rank < 2; ++rank) {
    WriteDataFile(&fs, rank, 2);
    ASSERT_TRUE(committer.AddPart(rank, Part(rank, 2)).ok());
  }
  auto committed = committer.Commit(Commit(2), 1000);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->prefix(), kPrefix);
  EXPECT_TRUE(fs.FileExists(std::string(kPrefix) + ".index"));
  EXPECT_TRUE(fs.FileExists("/run/checkpoint"));
  EXPECT_EQ(committer.last_committed(), kPrefix);
  EXPECT_EQ(committer.last_committed_step(), 10);
  // The parts were used up: committing the prefix again needs new ones.
  EXPECT_EQ(committer.Commit(Commit(2), 1001).status().code(), StatusCode::kFailedPrecondition);
}

TEST(CheckpointCommitterTest, EarliestUnfinishedSaveIsDroppedWhenTooManyArePending) {
  storage::MemoryFileSystem fs;
  CheckpointCommitter committer(&fs, 2);
  // Rank 0 reports parts of 9 saves that rank 1 has not reported, ckpt-9
  // first: ckpt-9 is dropped although "ckpt-10" .. "ckpt-17" sort before it.
  for (int step = 9; step <= 17; ++step) {
    ASSERT_TRUE(committer.AddPart(0, Part(0, 2, "/run/ckpt-" + std::to_string(step))).ok());
  }
  EXPECT_EQ(committer.Commit(Commit(2, "/run/ckpt-9"), 1000).status(),
            FailedPreconditionError(
                "cannot commit checkpoint /run/ckpt-9: rank(s) 0, 1 did not report their part"));
  EXPECT_EQ(committer.Commit(Commit(2, "/run/ckpt-10"), 1000).status(),
            FailedPreconditionError(
                "cannot commit checkpoint /run/ckpt-10: rank(s) 1 did not report their part"));
}

}  // namespace
}  // namespace shardtrain::coordinator
