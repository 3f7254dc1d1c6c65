// Crash-safe TFRecord shard files. See record_shards.h.
#include "worker/data/record_shards.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "storage/tfrecord/tfrecord.h"
#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

Status FsyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", dir);
  Status status;
  if (::fsync(fd) != 0) status = ErrnoToStatus(errno, "fsync", dir);
  ::close(fd);
  return status;
}

// Writes records [begin, end) to `final_path`: temporary file, fsync, rename.
Status WriteShard(const std::string& final_path, int64_t begin, int64_t end,
                  const SerializeRecord& serialize) {
  const std::string temp_path =
      final_path + ".tmp-" + std::to_string(static_cast<long long>(::getpid()));
  ASSIGN_OR_RETURN(std::unique_ptr<storage::TfRecordWriter> writer,
                   storage::TfRecordWriter::Open(temp_path));
  std::string bytes;
  Status status;
  for (int64_t i = begin; i < end && status.ok(); ++i) {
    status = serialize(i, &bytes);
    if (status.ok()) status = writer->Write(bytes);
  }
  if (status.ok()) status = writer->Close();
  if (status.ok() && std::rename(temp_path.c_str(), final_path.c_str()) != 0) {
    status = ErrnoToStatus(errno, "rename to '" + final_path + "'", temp_path);
  }
  if (!status.ok()) {
    writer.reset();
    std::error_code ignored;
    fs::remove(temp_path, ignored);
  }
  return status;
}

// Writes all of `contents` to `fd` and fsyncs it.
Status WriteAndSync(int fd, const std::string& contents, const std::string& path) {
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t wrote = ::write(fd, contents.data() + done, contents.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return ErrnoToStatus(errno, "write", path);
    done += static_cast<size_t>(wrote);
  }
  if (::fsync(fd) != 0) return ErrnoToStatus(errno, "fsync", path);
  return OkStatus();
}

}  // namespace

Status WriteFileDurably(const std::string& path, const std::string& contents) {
  const std::string temp_path = path + ".tmp-" + std::to_string(static_cast<long long>(::getpid()));
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "create", temp_path);
  Status status = WriteAndSync(fd, contents, temp_path);
  if (::close(fd) != 0 && status.ok()) status = ErrnoToStatus(errno, "close", temp_path);
  if (status.ok() && std::rename(temp_path.c_str(), path.c_str()) != 0) {
    status = ErrnoToStatus(errno, "rename to '" + path + "'", temp_path);
  }
  if (!status.ok()) {
    std::error_code ignored;
    fs::remove(temp_path, ignored);
    return status;
  }
  return FsyncDirectory(fs::path(path).parent_path().string());
}

Status PrepareOutputDirectory(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return ErrnoToStatus(error.value(), "cannot create output directory", dir)
        .WithContext("data prepare");
  }
  if (!fs::is_directory(dir, error)) {
    return FailedPreconditionError("output path '" + dir + "' exists and is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return ErrnoToStatus(errno, "output directory is not writable", dir)
        .WithContext("data prepare");
  }
  return OkStatus();
}

Status WriteRecordShards(const std::string& dir, const std::string& split, int64_t count,
                         int num_shards, const SerializeRecord& serialize, std::ostream* log) {
  if (num_shards < 1 || num_shards > count) {
    return InvalidArgumentError("cannot write " + std::to_string(count) + " " + split +
                                " examples as " + std::to_string(num_shards) +
                                " shards: every shard must hold at least one example");
  }
  for (int shard = 0; shard < num_shards; ++shard) {
    const int64_t begin = count * shard / num_shards;
    const int64_t end = count * (shard + 1) / num_shards;
    const std::string path = (fs::path(dir) / ShardFileName(split, shard, num_shards)).string();
    RETURN_IF_ERROR(WriteShard(path, begin, end, serialize));
    if (log != nullptr) *log << "wrote " << path << " (" << (end - begin) << " examples)\n";
  }
  return FsyncDirectory(dir);
}

}  // namespace shardtrain::data
