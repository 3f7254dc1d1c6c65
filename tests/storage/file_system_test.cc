// Tests for storage/io/file_system: the POSIX file system (round trips and
// errno → Status with the path) and the in-memory one's crash model (unsynced
// data and directory entries are lost, synced ones survive).
#include "storage/io/file_system.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <vector>

namespace shardtrain::storage {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "file_system_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~TempDir() {
    std::error_code ignored;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status WriteWhole(FileSystem* fs, const std::string& path, const std::string& content,
                  bool sync) {
  auto file = fs->NewWritableFile(path);
  if (!file.ok()) return file.status();
  RETURN_IF_ERROR((*file)->Append(content));
  if (sync) RETURN_IF_ERROR((*file)->Sync());
  return (*file)->Close();
}

std::string Content(FileSystem* fs, const std::string& path) {
  auto content = fs->ReadFile(path);
  if (content.ok()) return *content;
  std::string error = "<error: ";
  error.append(content.status().ToString());
  error.push_back('>');
  return error;
}

TEST(PathHelpers, DirBaseJoin) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("/a/b/"), "/a");
  EXPECT_EQ(BaseName("a/b/c"), "c");
  EXPECT_EQ(BaseName("c"), "c");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("/", "b"), "/b");
}

// The same behavioural checks for both implementations.
void ExerciseBasics(FileSystem* fs, const std::string& root) {
  const std::string dir = JoinPath(root, "x/y");
  ASSERT_TRUE(fs->CreateDirs(dir).ok());
  ASSERT_TRUE(fs->CreateDirs(dir).ok());  // idempotent
  EXPECT_TRUE(fs->IsDirectory(dir));
  const std::string a = JoinPath(dir, "a.txt");
  ASSERT_TRUE(WriteWhole(fs, a, "hello", true).ok());
  EXPECT_TRUE(fs->FileExists(a));
  EXPECT_FALSE(fs->IsDirectory(a));
  EXPECT_EQ(Content(fs, a), "hello");
  EXPECT_EQ(*fs->FileSize(a), 5u);

  // Appends in pieces, larger than any buffer.
  {
    auto file = fs->NewWritableFile(a);
    ASSERT_TRUE(file.ok());
    std::string big(3 << 20, 'z');
    ASSERT_TRUE((*file)->Append("ab").ok());
    ASSERT_TRUE((*file)->Append(big).ok());
    ASSERT_TRUE((*file)->Append("cd").ok());
    ASSERT_TRUE((*file)->Close().ok());
    EXPECT_EQ(Content(fs, a), "ab" + big + "cd");
    EXPECT_EQ((*file)->Append("x").code(), StatusCode::kFailedPrecondition);
  }
  auto raf = fs->NewRandomAccessFile(a);
  ASSERT_TRUE(raf.ok());
  char buf[4];
  auto got = (*raf)->Read(0, 4, buf);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 4u);
  EXPECT_EQ(std::string(buf, 4), "abzz");
  got = (*raf)->Read((*raf)->Size() - 2, 4, buf);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 2u);
  EXPECT_EQ(std::string(buf, 2), "cd");
  got = (*raf)->Read((*raf)->Size() + 10, 4, buf);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 0u);

  const std::string b = JoinPath(dir, "b.txt");
  ASSERT_TRUE(WriteWhole(fs, b, "bee", true).ok());
  ASSERT_TRUE(fs->Rename(b, a).ok());  // atomic overwrite
  EXPECT_EQ(Content(fs, a), "bee");
  EXPECT_FALSE(fs->FileExists(b));
  ASSERT_TRUE(fs->SyncDir(dir).ok());

  auto names = fs->ListDir(JoinPath(root, "x"));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"y"});
  ASSERT_TRUE(WriteWhole(fs, JoinPath(dir, "c"), "", false).ok());
  names = fs->ListDir(dir);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a.txt", "c"}));

  // Errors name the path.
  const std::string missing = JoinPath(dir, "missing");
  auto read = fs->ReadFile(missing);
  EXPECT_EQ(read.status().code(), StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find(missing), std::string::npos) << read.status();
  EXPECT_EQ(fs->FileSize(missing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(fs->DeleteFile(missing).code(), StatusCode::kNotFound);
  EXPECT_EQ(fs->Rename(missing, a).code(), StatusCode::kNotFound);
  auto no_dir = fs->NewWritableFile(JoinPath(root, "nope/file"));
  EXPECT_EQ(no_dir.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_dir.status().message().find("nope/file"), std::string::npos);
  EXPECT_EQ(fs->ListDir(missing).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs->FileExists(missing));
  // A directory is not a file; nothing goes below a file.
  EXPECT_EQ(fs->ReadFile(dir).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fs->CreateDirs(JoinPath(a, "sub")).code(), StatusCode::kFailedPrecondition);

  EXPECT_EQ(fs->DeleteDir(dir).code(), StatusCode::kFailedPrecondition);  // not empty
  ASSERT_TRUE(fs->DeleteFile(a).ok());
  ASSERT_TRUE(fs->DeleteFile(JoinPath(dir, "c")).ok());
  ASSERT_TRUE(fs->DeleteDir(dir).ok());
  EXPECT_FALSE(fs->FileExists(dir));
}

TEST(PosixFileSystem, Basics) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  ExerciseBasics(PosixFileSystem(), tmp.path());
}

TEST(PosixFileSystem, PermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permission bits are not enforced";
  TempDir tmp;
  const std::string locked = tmp.path() + "/locked";
  ASSERT_TRUE(PosixFileSystem()->CreateDirs(locked).ok());
  ASSERT_EQ(::chmod(locked.c_str(), 0500), 0);
  auto file = PosixFileSystem()->NewWritableFile(locked + "/f");
  EXPECT_EQ(file.status().code(), StatusCode::kPermissionDenied) << file.status();
  EXPECT_NE(file.status().message().find(locked + "/f"), std::string::npos);
  ::chmod(locked.c_str(), 0700);
}

TEST(MemoryFileSystem, Basics) {
  MemoryFileSystem mem;
  ExerciseBasics(&mem, "/root");
  EXPECT_TRUE(mem.IsDirectory("/"));
  EXPECT_EQ(mem.ReadFile("/a/../../b").status().code(), StatusCode::kNotFound);
}

// A durable directory /d with a durable file /d/f holding "v1".
void MakeDurableFile(MemoryFileSystem* mem) {
  ASSERT_TRUE(mem->CreateDirs("/d").ok());
  ASSERT_TRUE(mem->SyncDir("/").ok());
  ASSERT_TRUE(WriteWhole(mem, "/d/f", "v1", true).ok());
  ASSERT_TRUE(mem->SyncDir("/d").ok());
}

TEST(MemoryFileSystemCrash, SyncedFileSurvives) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/d/f"), "v1");
}

TEST(MemoryFileSystemCrash, UnsyncedDataIsLost) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  // Appending without Sync: lost.
  auto file = mem.NewWritableFile("/d/g");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("synced").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append("+unsynced").ok());
  ASSERT_TRUE(mem.SyncDir("/d").ok());
  EXPECT_EQ(Content(&mem, "/d/g"), "synced+unsynced");
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/d/g"), "synced");
  // A writer open at the crash refuses further use.
  EXPECT_EQ((*file)->Append("x").code(), StatusCode::kFailedPrecondition);
  // Close() does not sync.
  ASSERT_TRUE(WriteWhole(&mem, "/d/h", "closed only", false).ok());
  ASSERT_TRUE(mem.SyncDir("/d").ok());
  mem.SimulateCrash();
  EXPECT_TRUE(mem.FileExists("/d/h"));
  EXPECT_EQ(Content(&mem, "/d/h"), "");
}

TEST(MemoryFileSystemCrash, TruncationRevertsToSyncedContent) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  ASSERT_TRUE(WriteWhole(&mem, "/d/f", "v2 not synced", false).ok());
  EXPECT_EQ(Content(&mem, "/d/f"), "v2 not synced");
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/d/f"), "v1");
}

TEST(MemoryFileSystemCrash, CreationWithoutDirSyncIsLost) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  ASSERT_TRUE(WriteWhole(&mem, "/d/new", "data", true).ok());  // content synced, entry not
  mem.SimulateCrash();
  EXPECT_FALSE(mem.FileExists("/d/new"));
  EXPECT_TRUE(mem.FileExists("/d/f"));
}

TEST(MemoryFileSystemCrash, UnsyncedRenameReverts) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  ASSERT_TRUE(WriteWhole(&mem, "/d/f.tmp", "v2", true).ok());
  ASSERT_TRUE(mem.SyncDir("/d").ok());  // the temp file's entry is durable
  ASSERT_TRUE(mem.Rename("/d/f.tmp", "/d/f").ok());
  EXPECT_EQ(Content(&mem, "/d/f"), "v2");
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/d/f"), "v1");
  EXPECT_EQ(Content(&mem, "/d/f.tmp"), "v2");
}

TEST(MemoryFileSystemCrash, SyncedRenameSurvives) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  ASSERT_TRUE(WriteWhole(&mem, "/d/f.tmp", "v2", true).ok());
  ASSERT_TRUE(mem.Rename("/d/f.tmp", "/d/f").ok());
  ASSERT_TRUE(mem.SyncDir("/d").ok());
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/d/f"), "v2");
  EXPECT_FALSE(mem.FileExists("/d/f.tmp"));
}

TEST(MemoryFileSystemCrash, UnsyncedDeleteComesBack) {
  MemoryFileSystem mem;
  MakeDurableFile(&mem);
  ASSERT_TRUE(mem.DeleteFile("/d/f").ok());
  EXPECT_FALSE(mem.FileExists("/d/f"));
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/d/f"), "v1");
  ASSERT_TRUE(mem.DeleteFile("/d/f").ok());
  ASSERT_TRUE(mem.SyncDir("/d").ok());
  mem.SimulateCrash();
  EXPECT_FALSE(mem.FileExists("/d/f"));
}

TEST(MemoryFileSystemCrash, UnsyncedDirectoryTakesItsFilesAlong) {
  MemoryFileSystem mem;
  ASSERT_TRUE(mem.CreateDirs("/a/b").ok());
  ASSERT_TRUE(WriteWhole(&mem, "/a/b/f", "x", true).ok());
  ASSERT_TRUE(mem.SyncDir("/a/b").ok());
  ASSERT_TRUE(mem.SyncDir("/a").ok());  // "/" not synced: /a itself is not durable
  mem.SimulateCrash();
  EXPECT_FALSE(mem.FileExists("/a"));
  EXPECT_FALSE(mem.FileExists("/a/b/f"));

  ASSERT_TRUE(mem.CreateDirs("/a/b").ok());
  ASSERT_TRUE(WriteWhole(&mem, "/a/b/f", "x", true).ok());
  for (const char* dir : {"/a/b", "/a", "/"}) ASSERT_TRUE(mem.SyncDir(dir).ok());
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/a/b/f"), "x");
}

TEST(MemoryFileSystemCrash, DirectoryRename) {
  MemoryFileSystem mem;
  ASSERT_TRUE(mem.CreateDirs("/m/tmp-1").ok());
  ASSERT_TRUE(WriteWhole(&mem, "/m/tmp-1/saved_model.pb", "graph", true).ok());
  for (const char* dir : {"/m/tmp-1", "/m", "/"}) ASSERT_TRUE(mem.SyncDir(dir).ok());
  ASSERT_TRUE(mem.Rename("/m/tmp-1", "/m/1").ok());
  EXPECT_EQ(Content(&mem, "/m/1/saved_model.pb"), "graph");
  EXPECT_EQ(mem.Rename("/m/1", "/m/1/inside").code(), StatusCode::kInvalidArgument);
  mem.SimulateCrash();
  EXPECT_FALSE(mem.FileExists("/m/1"));
  EXPECT_EQ(Content(&mem, "/m/tmp-1/saved_model.pb"), "graph");
  ASSERT_TRUE(mem.Rename("/m/tmp-1", "/m/1").ok());
  ASSERT_TRUE(mem.SyncDir("/m").ok());
  mem.SimulateCrash();
  EXPECT_EQ(Content(&mem, "/m/1/saved_model.pb"), "graph");
}

TEST(MemoryFileSystem, ConcurrentWriters) {
  MemoryFileSystem mem;
  ASSERT_TRUE(mem.CreateDirs("/t").ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&mem, t] {
      const std::string path = "/t/f" + std::to_string(t);
      auto file = mem.NewWritableFile(path);
      if (!file.ok()) return;
      for (int i = 0; i < 1000; ++i) (*file)->Append("x").IgnoreError();
      (*file)->Sync().IgnoreError();
      (*file)->Close().IgnoreError();
      mem.SyncDir("/t").IgnoreError();
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(*mem.FileSize("/t/f" + std::to_string(t)), 1000u);
  EXPECT_EQ(mem.ListDir("/t")->size(), 8u);
}

}  // namespace
}  // namespace shardtrain::storage
