// A checkpoint save that hits a full disk (ResourceExhausted, as ENOSPC) or a
// read-only directory (PermissionDenied, as EROFS) at any stage — a rank's
// data file, the .index, the `checkpoint` state file — fails with an error
// naming the file and saying what to do, deletes its temporary files, and
// leaves the previous checkpoint the latest and readable. Run on the
// in-memory file system's fault injection and, where this process may mount
// (root), on a real small tmpfs filled up or remounted read-only.
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "storage/checkpoint/commit.h"
#include "storage/checkpoint/state_file.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "storage/tensor_bundle/bundle_writer.h"

namespace shardtrain::storage {
namespace {

constexpr int kShards = 2;

// Writes rank `rank`'s data file of `prefix` (`floats` values of `value`) as
// the Checkpointer does: a temporary name, fsync, rename; on failure the
// temporary file is deleted and the error explained.
StatusOr<CheckpointPart> WritePart(FileSystem* fs, const std::string& prefix, int rank,
                                   float value, size_t floats) {
  const std::string final_name = DataFilename(prefix, rank, kShards);
  const std::string temp = final_name + ".tempstate7";
  const std::vector<float> values(floats, value);
  CheckpointPart part;
  part.rank = rank;
  Status written;
  {
    auto writer = BundleShardWriter::Open(fs, temp, rank);
    written = writer.status();
    if (written.ok()) {
      written = (*writer)->Add("v" + std::to_string(rank), DType::kFloat32,
                               {static_cast<int64_t>(floats)}, values.data(),
                               floats * sizeof(float));
    }
    if (written.ok()) written = (*writer)->Finish();
    if (written.ok()) part.entries = (*writer)->entries();
  }
  if (written.ok()) written = fs->Rename(temp, final_name);
  if (!written.ok()) {
    if (fs->FileExists(temp)) fs->DeleteFile(temp).IgnoreError();
    return ExplainCheckpointWriteError(written, DirName(prefix));
  }
  return part;
}

// Phase 1 (every rank's data file) then the commit of `prefix`.
Status Save(FileSystem* fs, const std::string& prefix, float value, size_t floats = 64) {
  std::vector<CheckpointPart> parts;
  for (int rank = 0; rank < kShards; ++rank) {
    ASSIGN_OR_RETURN(CheckpointPart part, WritePart(fs, prefix, rank, value, floats));
    parts.push_back(std::move(part));
  }
  RETURN_IF_ERROR(fs->SyncDir(DirName(prefix)));
  RetentionPolicy keep_all;
  keep_all.max_to_keep = -1;
  return CommitCheckpoint(fs, prefix, kShards, std::move(parts), keep_all, value).status();
}

// Fails the test unless `dir`'s latest checkpoint is `prefix` and reads back
// `value`, and no temporary file of a save is left in `dir`.
void ExpectLatestIntact(FileSystem* fs, const std::string& dir, const std::string& prefix,
                        float value, const std::string& context) {
  auto latest = LatestCheckpoint(fs, dir);
  ASSERT_TRUE(latest.ok()) << context << ": " << latest.status();
  EXPECT_EQ(*latest, prefix) << context;
  auto reader = BundleReader::Open(fs, *latest);
  ASSERT_TRUE(reader.ok()) << context << ": " << reader.status();
  std::vector<float> v1(64);
  Status read = (*reader)->Read("v1", v1.data(), v1.size() * sizeof(float));
  ASSERT_TRUE(read.ok()) << context << ": " << read;
  EXPECT_EQ(v1[63], value) << context;
  auto names = fs->ListDir(dir);
  ASSERT_TRUE(names.ok()) << names.status();
  for (const std::string& name : *names) {
    EXPECT_EQ(name.find(".tempstate"), std::string::npos) << context << ": left " << name;
    EXPECT_NE(name.rfind("checkpoint.tmp", 0), 0u) << context << ": left " << name;
  }
}

// Which save stage a failure message names.
std::string StageOf(const std::string& message) {
  if (message.find(".data-0000") != std::string::npos) return "data file";
  if (message.find(".index.tempstate") != std::string::npos) return "index";
  if (message.find("/checkpoint.tmp") != std::string::npos) return "state file";
  return "unknown: " + message;
}

TEST(MemoryFileSystemFaultsTest, SpaceLimitWritesWhatFitsThenResourceExhausted) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/d").ok());
  fs.SetSpaceLimit(10);
  auto file = fs.NewWritableFile("/d/f");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("123456").ok());
  Status full = (*file)->Append("789abc");
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message(), "write '/d/f': No space left on device");
  EXPECT_EQ((*file)->Sync().code(), StatusCode::kResourceExhausted) << "a failed file stays failed";
  EXPECT_EQ(*fs.ReadFile("/d/f"), "123456789a");
  ASSERT_TRUE(fs.DeleteFile("/d/f").ok());
  fs.SetSpaceLimit(MemoryFileSystem::kNoSpaceLimit);
  auto again = fs.NewWritableFile("/d/g");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->Append(std::string(1000, 'x')).ok());
}

TEST(MemoryFileSystemFaultsTest, ReadOnlyRefusesChangesAsPermissionDenied) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/d").ok());
  auto open = fs.NewWritableFile("/d/f");
  ASSERT_TRUE(open.ok());
  fs.SetReadOnly(true);
  Status write = (*open)->Append("x");
  EXPECT_EQ(write.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(write.message(), "write '/d/f': Read-only file system");
  EXPECT_EQ(fs.NewWritableFile("/d/g").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(fs.Rename("/d/f", "/d/h").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(fs.DeleteFile("/d/f").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(fs.CreateDirs("/d/e").code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(fs.CreateDirs("/d").ok()) << "an existing directory needs no change";
  EXPECT_TRUE(fs.ReadFile("/d/f").ok());
  EXPECT_TRUE(fs.SyncDir("/d").ok());
  fs.SetReadOnly(false);
  EXPECT_TRUE(fs.NewWritableFile("/d/g").ok());
}

// Every space limit between "nothing of the second save fits" and "all of
// it fits": each stage runs out of space for some limit.
TEST(CheckpointFaultsTest, DiskFullAtEveryStageKeepsPreviousLatest) {
  std::set<std::string> stages;
  for (uint64_t extra = 0;; extra += 7) {
    MemoryFileSystem fs;
    ASSERT_TRUE(fs.CreateDirs("/run/ckpt").ok());
    ASSERT_TRUE(Save(&fs, "/run/ckpt/ckpt-1", 1.0f).ok());
    auto used = fs.ListDir("/run/ckpt");
    uint64_t bytes = 0;
    for (const std::string& name : *used) bytes += *fs.FileSize("/run/ckpt/" + name);
    fs.SetSpaceLimit(bytes + extra);
    Status second = Save(&fs, "/run/ckpt/ckpt-2", 2.0f);
    const std::string context = "limit +" + std::to_string(extra) + " bytes";
    if (second.ok()) {
      ExpectLatestIntact(&fs, "/run/ckpt", "/run/ckpt/ckpt-2", 2.0f, context);
      break;
    }
    EXPECT_EQ(second.code(), StatusCode::kResourceExhausted) << context << ": " << second;
    EXPECT_NE(second.message().find("No space left on device"), std::string::npos) << second;
    EXPECT_NE(second.message().find("the disk holding /run/ckpt is full: free space there"),
              std::string::npos)
        << second;
    EXPECT_NE(second.message().find("the previous checkpoint is still the latest"),
              std::string::npos)
        << second;
    stages.insert(StageOf(second.message()));
    ExpectLatestIntact(&fs, "/run/ckpt", "/run/ckpt/ckpt-1", 1.0f, context);
    if (StageOf(second.message()) == "state file") {
      // CommitCheckpoint deletes the renamed-in ckpt-2 files, which nothing lists.
      auto left = fs.ListDir("/run/ckpt");
      ASSERT_TRUE(left.ok()) << left.status();
      for (const std::string& name : *left) {
        EXPECT_NE(name.rfind("ckpt-2.", 0), 0u) << context << ": left " << name;
      }
    }
    // Once space is freed, the next save succeeds.
    fs.SetSpaceLimit(MemoryFileSystem::kNoSpaceLimit);
    ASSERT_TRUE(Save(&fs, "/run/ckpt/ckpt-3", 3.0f).ok()) << context;
    ASSERT_LT(extra, 100000u) << "the second save never fit";
  }
  EXPECT_EQ(stages, (std::set<std::string>{"data file", "index", "state file"}));
}

// A memory file system that, once `state_file_full` is set, has no space for
// the `checkpoint` state file's temporary file only: a save then fails exactly
// at the state-file stage.
class StateFileDiskFull : public MemoryFileSystem {
 public:
  bool state_file_full = false;
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    if (state_file_full && BaseName(path).rfind("checkpoint.tmp", 0) == 0) {
      return ResourceExhaustedError("write '" + path + "': No space left on device");
    }
    return MemoryFileSystem::NewWritableFile(path);
  }
};

// A save that fails writing the state file deletes its files when the state
// file does not name them (a new name), but keeps them for a reused name (a
// filepath without {step}, or {epoch} saved mid-epoch and at the epoch's end):
// they are complete and the state file still names them as the latest, so
// deleting them would leave the latest checkpoint without files.
TEST(CheckpointFaultsTest, ReusedNameKeepsItsFilesWhenTheStateFileCannotBeWritten) {
  StateFileDiskFull fs;
  ASSERT_TRUE(fs.CreateDirs("/run/ckpt").ok());
  ASSERT_TRUE(Save(&fs, "/run/ckpt/ckpt", 1.0f).ok());
  fs.state_file_full = true;
  Status fresh = Save(&fs, "/run/ckpt/other", 2.0f);
  EXPECT_EQ(fresh.code(), StatusCode::kResourceExhausted) << fresh;
  EXPECT_FALSE(fs.FileExists("/run/ckpt/other.index")) << "a new name's files are deleted";
  Status reused = Save(&fs, "/run/ckpt/ckpt", 3.0f);
  EXPECT_EQ(reused.code(), StatusCode::kResourceExhausted) << reused;
  EXPECT_EQ(StageOf(reused.message()), "state file");
  ExpectLatestIntact(&fs, "/run/ckpt", "/run/ckpt/ckpt", 3.0f, "reused name");
}

TEST(CheckpointFaultsTest, ReadOnlyDirectoryBeforeOrDuringSaveIsPermissionDenied) {
  MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/run/ckpt").ok());
  ASSERT_TRUE(Save(&fs, "/run/ckpt/ckpt-1", 1.0f).ok());
  fs.SetReadOnly(true);
  Status data = Save(&fs, "/run/ckpt/ckpt-2", 2.0f);
  EXPECT_EQ(data.code(), StatusCode::kPermissionDenied) << data;
  EXPECT_EQ(data.message(),
            "open for writing '/run/ckpt/ckpt-2.data-00000-of-00002.tempstate7': Read-only file "
            "system — /run/ckpt is not writable (a read-only file system or its permissions): make "
            "it writable or pass another --run-dir; the previous checkpoint is still the latest");
  fs.SetReadOnly(false);
  ExpectLatestIntact(&fs, "/run/ckpt", "/run/ckpt/ckpt-1", 1.0f, "read-only before the save");

  // The directory turns read-only between the ranks' data files and the commit.
  std::vector<CheckpointPart> parts;
  for (int rank = 0; rank < kShards; ++rank) {
    auto part = WritePart(&fs, "/run/ckpt/ckpt-3", rank, 3.0f, 64);
    ASSERT_TRUE(part.ok()) << part.status();
    parts.push_back(*std::move(part));
  }
  fs.SetReadOnly(true);
  auto commit = CommitCheckpoint(&fs, "/run/ckpt/ckpt-3", kShards, std::move(parts), {}, 3.0);
  EXPECT_EQ(commit.status().code(), StatusCode::kPermissionDenied) << commit.status();
  EXPECT_EQ(StageOf(commit.status().message()), "index");
  EXPECT_NE(commit.status().message().find("is not writable"), std::string::npos);
  fs.SetReadOnly(false);
  ExpectLatestIntact(&fs, "/run/ckpt", "/run/ckpt/ckpt-1", 1.0f, "read-only before the commit");
}

// A small tmpfs this test mounts (and always unmounts); skipped where this
// process may not mount (not root, or no CAP_SYS_ADMIN in a container).
class TmpfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "shardtrain_tmpfs.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=256k") != 0) {
      const int error = errno;
      ::rmdir(dir_.c_str());
      dir_.clear();
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(error)
                   << "): needs root with CAP_SYS_ADMIN; the in-memory tests cover the logic";
    }
  }
  void TearDown() override {
    if (dir_.empty()) return;
    EXPECT_EQ(::umount2(dir_.c_str(), MNT_DETACH), 0) << std::strerror(errno);
    ::rmdir(dir_.c_str());
  }
  Status RemountReadOnly() {
    if (::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                "size=256k") != 0) {
      return ErrnoToStatus(errno, "remount read-only", dir_);
    }
    return OkStatus();
  }

  std::string dir_;
};

TEST_F(TmpfsTest, FilledUpTmpfsFailsWithResourceExhaustedAndKeepsPreviousLatest) {
  FileSystem* fs = PosixFileSystem();
  const std::string ckpt = JoinPath(dir_, "ckpt");
  ASSERT_TRUE(fs->CreateDirs(ckpt).ok());
  ASSERT_TRUE(Save(fs, ckpt + "/ckpt-1", 1.0f).ok());
  // Two data files of 160 KiB each: the second cannot fit into 256 KiB.
  Status full = Save(fs, ckpt + "/ckpt-2", 2.0f, 40960);
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted) << full;
  EXPECT_NE(full.message().find(ckpt + "/ckpt-2.data-00001-of-00002.tempstate7"),
            std::string::npos)
      << full;
  EXPECT_NE(full.message().find("No space left on device — the disk holding " + ckpt +
                                " is full"),
            std::string::npos)
      << full;
  ExpectLatestIntact(fs, ckpt, ckpt + "/ckpt-1", 1.0f, "full tmpfs");
}

TEST_F(TmpfsTest, ReadOnlyTmpfsFailsWithPermissionDeniedAndKeepsPreviousLatest) {
  FileSystem* fs = PosixFileSystem();
  const std::string ckpt = JoinPath(dir_, "ckpt");
  ASSERT_TRUE(fs->CreateDirs(ckpt).ok());
  ASSERT_TRUE(Save(fs, ckpt + "/ckpt-1", 1.0f).ok());
  Status remounted = RemountReadOnly();
  ASSERT_TRUE(remounted.ok()) << remounted;
  Status refused = Save(fs, ckpt + "/ckpt-2", 2.0f);
  EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied) << refused;
  EXPECT_NE(refused.message().find(ckpt + "/ckpt-2.data-00000-of-00002.tempstate7"),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.message().find("Read-only file system — " + ckpt + " is not writable"),
            std::string::npos)
      << refused;
  ExpectLatestIntact(fs, ckpt, ckpt + "/ckpt-1", 1.0f, "read-only tmpfs");
}

}  // namespace
}  // namespace shardtrain::storage
