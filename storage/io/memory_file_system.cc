// MemoryFileSystem (contract and durability model in file_system.h): a tree
// of nodes under one mutex, each file and directory keeping its current and
// its durable state so SimulateCrash can drop what was never synced; a space
// limit and a read-only switch inject the faults of a full or read-only disk.
#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "storage/io/file_system.h"

namespace shardtrain::storage {

struct MemoryFileSystem::Node {
  explicit Node(bool dir) : is_dir(dir) {}
  bool is_dir;
  std::string content;                                   // files: current bytes
  std::string synced;                                    // files: bytes as of the last Sync()
  std::map<std::string, std::shared_ptr<Node>> entries;  // dirs: current
  std::map<std::string, std::shared_ptr<Node>> durable_entries;  // dirs: as of SyncDir
};

class MemoryFileSystem::MemWritableFile : public WritableFile {
 public:
  MemWritableFile(MemoryFileSystem* fs, std::shared_ptr<Node> node, std::string path,
                  uint64_t generation)
      : fs_(fs), node_(std::move(node)), path_(std::move(path)), generation_(generation) {}

  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    RETURN_IF_ERROR(CheckLocked());
    RETURN_IF_ERROR(failed_ = fs_->CheckWritableLocked("write", path_));
    const uint64_t room = fs_->FreeBytesLocked();
    if (data.size() > room) {  // as a full disk: what fits is written
      node_->content.append(data.substr(0, static_cast<size_t>(room)));
      failed_ = ResourceExhaustedError("write '" + path_ + "': No space left on device");
      return failed_;
    }
    node_->content.append(data);
    return OkStatus();
  }
  Status Sync() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    RETURN_IF_ERROR(CheckLocked());
    node_->synced = node_->content;
    return OkStatus();
  }
  Status Close() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    RETURN_IF_ERROR(CheckLocked());
    closed_ = true;
    return OkStatus();
  }

 private:
  Status CheckLocked() const {
    if (closed_) return FailedPreconditionError("file '" + path_ + "' is closed");
    if (!failed_.ok()) return failed_;  // a failed write fails every later call
    if (generation_ != fs_->generation_) {
      return FailedPreconditionError("file '" + path_ + "' was open at a simulated crash");
    }
    return OkStatus();
  }

  MemoryFileSystem* fs_;
  std::shared_ptr<Node> node_;
  std::string path_;
  uint64_t generation_;
  bool closed_ = false;
  Status failed_;
};

class MemoryFileSystem::MemRandomAccessFile : public RandomAccessFile {
 public:
  explicit MemRandomAccessFile(std::string content) : content_(std::move(content)) {}
  StatusOr<size_t> Read(uint64_t offset, size_t n, char* out) const override {
    if (offset >= content_.size()) return size_t{0};
    const size_t count = std::min<uint64_t>(n, content_.size() - offset);
    std::memcpy(out, content_.data() + offset, count);
    return count;
  }
  uint64_t Size() const override { return content_.size(); }

 private:
  const std::string content_;
};

MemoryFileSystem::MemoryFileSystem() : root_(std::make_shared<Node>(true)) {}
MemoryFileSystem::~MemoryFileSystem() = default;

StatusOr<std::vector<std::string>> MemoryFileSystem::Split(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("empty path");
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (parts.empty()) return InvalidArgumentError("path '" + path + "' climbs above the root");
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    start = end + 1;
  }
  return parts;
}

std::shared_ptr<MemoryFileSystem::Node> MemoryFileSystem::LookupLocked(
    const std::string& path) const {
  auto parts = Split(path);
  if (!parts.ok()) return nullptr;
  std::shared_ptr<Node> node = root_;
  for (const std::string& part : *parts) {
    if (!node->is_dir) return nullptr;
    auto it = node->entries.find(part);
    if (it == node->entries.end()) return nullptr;
    node = it->second;
  }
  return node;
}

StatusOr<std::shared_ptr<MemoryFileSystem::Node>> MemoryFileSystem::ParentLocked(
    const std::string& path, std::string* name) const {
  std::vector<std::string> parts;
  ASSIGN_OR_RETURN(parts, Split(path));
  if (parts.empty()) return InvalidArgumentError("'" + path + "' names the root directory");
  *name = parts.back();
  std::shared_ptr<Node> node = root_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = node->entries.find(parts[i]);
    if (it == node->entries.end() || !it->second->is_dir) {
      return NotFoundError("parent directory of '" + path + "' does not exist");
    }
    node = it->second;
  }
  return node;
}

StatusOr<std::unique_ptr<WritableFile>> MemoryFileSystem::NewWritableFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string name;
  std::shared_ptr<Node> parent;
  ASSIGN_OR_RETURN(parent, ParentLocked(path, &name));
  RETURN_IF_ERROR(CheckWritableLocked("open for writing", path));
  std::shared_ptr<Node>& slot = parent->entries[name];
  if (slot && slot->is_dir) {
    return InvalidArgumentError("open for writing '" + path + "': is a directory");
  }
  if (slot) {
    slot->content.clear();  // O_TRUNC: same file, old content durable until Sync
  } else {
    slot = std::make_shared<Node>(false);
  }
  return std::unique_ptr<WritableFile>(new MemWritableFile(this, slot, path, generation_));
}

StatusOr<std::unique_ptr<RandomAccessFile>> MemoryFileSystem::NewRandomAccessFile(
    const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node) return NotFoundError("open for reading '" + path + "': No such file or directory");
  if (node->is_dir) return InvalidArgumentError("'" + path + "' is a directory, not a file");
  return std::unique_ptr<RandomAccessFile>(new MemRandomAccessFile(node->content));
}

StatusOr<std::string> MemoryFileSystem::ReadFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node) return NotFoundError("read '" + path + "': No such file or directory");
  if (node->is_dir) return InvalidArgumentError("read '" + path + "': Is a directory");
  return node->content;
}

StatusOr<uint64_t> MemoryFileSystem::FileSize(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node) return NotFoundError("stat '" + path + "': No such file or directory");
  return static_cast<uint64_t>(node->content.size());
}

bool MemoryFileSystem::FileExists(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  return LookupLocked(path) != nullptr;
}

bool MemoryFileSystem::IsDirectory(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  return node && node->is_dir;
}

Status MemoryFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string what = "rename '" + from + "' to '" + to + "'";
  RETURN_IF_ERROR(CheckWritableLocked("rename", from + "' to '" + to));
  std::string from_name, to_name;
  std::shared_ptr<Node> from_parent, to_parent;
  ASSIGN_OR_RETURN(from_parent, ParentLocked(from, &from_name));
  ASSIGN_OR_RETURN(to_parent, ParentLocked(to, &to_name));
  auto it = from_parent->entries.find(from_name);
  if (it == from_parent->entries.end()) {
    return NotFoundError(what + ": No such file or directory");
  }
  std::shared_ptr<Node> node = it->second;
  auto target = to_parent->entries.find(to_name);
  if (target != to_parent->entries.end()) {
    if (target->second == node) return OkStatus();
    if (node->is_dir != target->second->is_dir) {
      return FailedPreconditionError(what + ": one is a directory and the other is not");
    }
    if (target->second->is_dir && !target->second->entries.empty()) {
      return FailedPreconditionError(what + ": target directory is not empty");
    }
  }
  if (node->is_dir) {
    // Refuse to move a directory into itself.
    std::vector<std::string> from_parts, to_parts;
    ASSIGN_OR_RETURN(from_parts, Split(from));
    ASSIGN_OR_RETURN(to_parts, Split(to));
    if (to_parts.size() > from_parts.size() &&
        std::equal(from_parts.begin(), from_parts.end(), to_parts.begin())) {
      return InvalidArgumentError(what + ": cannot move a directory into itself");
    }
  }
  from_parent->entries.erase(it);
  to_parent->entries[to_name] = node;
  return OkStatus();
}

Status MemoryFileSystem::DeleteFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  return RemoveLocked(path, /*is_dir=*/false);
}

Status MemoryFileSystem::DeleteDir(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  return RemoveLocked(path, /*is_dir=*/true);
}

Status MemoryFileSystem::RemoveLocked(const std::string& path, bool is_dir) {
  const char* call = is_dir ? "rmdir" : "unlink";
  RETURN_IF_ERROR(CheckWritableLocked(call, path));
  const std::string what = std::string(call) + " '" + path + "'";
  std::string name;
  std::shared_ptr<Node> parent;
  ASSIGN_OR_RETURN(parent, ParentLocked(path, &name));
  auto it = parent->entries.find(name);
  if (it == parent->entries.end()) return NotFoundError(what + ": No such file or directory");
  if (it->second->is_dir != is_dir) {
    return FailedPreconditionError(what + (is_dir ? ": Not a directory" : ": Is a directory"));
  }
  if (is_dir && !it->second->entries.empty()) {
    return FailedPreconditionError(what + ": Directory not empty");
  }
  parent->entries.erase(it);
  return OkStatus();
}

Status MemoryFileSystem::CreateDirs(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> parts;
  ASSIGN_OR_RETURN(parts, Split(path));
  std::shared_ptr<Node> node = root_;
  for (const std::string& part : parts) {
    if (node->entries.count(part) == 0) RETURN_IF_ERROR(CheckWritableLocked("mkdir", path));
    std::shared_ptr<Node>& slot = node->entries[part];
    if (!slot) slot = std::make_shared<Node>(true);
    if (!slot->is_dir) {
      return FailedPreconditionError("mkdir '" + path + "': '" + part +
                                     "' exists and is not a directory");
    }
    node = slot;
  }
  return OkStatus();
}

StatusOr<std::vector<std::string>> MemoryFileSystem::ListDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(dir);
  if (!node) return NotFoundError("opendir '" + dir + "': No such file or directory");
  if (!node->is_dir) return NotFoundError("opendir '" + dir + "': Not a directory");
  std::vector<std::string> names;
  for (const auto& [name, child] : node->entries) names.push_back(name);
  return names;
}

Status MemoryFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(dir);
  if (!node) return NotFoundError("open directory '" + dir + "': No such file or directory");
  if (!node->is_dir) return NotFoundError("open directory '" + dir + "': Not a directory");
  node->durable_entries = node->entries;
  return OkStatus();
}

void MemoryFileSystem::SimulateCrash() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  // Walk what stays reachable through durable entries; everything else is gone.
  std::vector<Node*> stack = {root_.get()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (node->is_dir) {
      node->entries = node->durable_entries;
      for (auto& [name, child] : node->entries) stack.push_back(child.get());
    } else {
      node->content = node->synced;
    }
  }
}

void MemoryFileSystem::SetSpaceLimit(uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  space_limit_ = bytes;
}

void MemoryFileSystem::SetReadOnly(bool read_only) {
  std::lock_guard<std::mutex> lock(mu_);
  read_only_ = read_only;
}

Status MemoryFileSystem::CheckWritableLocked(std::string_view call,
                                             const std::string& path) const {
  if (!read_only_) return OkStatus();
  return PermissionDeniedError(std::string(call) + " '" + path + "': Read-only file system");
}

uint64_t MemoryFileSystem::FreeBytesLocked() const {
  if (space_limit_ == kNoSpaceLimit) return kNoSpaceLimit;
  uint64_t used = 0;
  std::vector<const Node*> stack = {root_.get()};
  while (!stack.empty()) {
    const Node* node = stack.back();
    stack.pop_back();
    used += node->content.size();
    for (const auto& [name, child] : node->entries) stack.push_back(child.get());
  }
  return used < space_limit_ ? space_limit_ - used : 0;
}

Status MemoryFileSystem::SetFileContent(const std::string& path, std::string content) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node || node->is_dir) return NotFoundError("no file '" + path + "'");
  node->content = std::move(content);
  return OkStatus();
}

}  // namespace shardtrain::storage
