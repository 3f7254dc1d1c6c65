// Lists data files by glob pattern or as a prepared shard set. See file_list.h.
#include "worker/data/file_list.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

constexpr size_t kShardDigits = 5;

std::string PrepareHint(const std::string& dir) {
  return "run `shardtrain data prepare --dataset fashion_mnist --output " + dir + "`";
}

// Parses "<split>-NNNNN-of-NNNNN.tfrecord"; false when `name` is not one.
bool ParseShardName(const std::string& name, const std::string& split, int* index, int* count) {
  const std::string prefix = split + "-";
  const std::string middle = "-of-";
  const std::string suffix = ".tfrecord";
  if (name.size() != prefix.size() + kShardDigits + middle.size() + kShardDigits + suffix.size()) {
    return false;
  }
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t pos = prefix.size();
  auto digits = [&](int* out) {
    int value = 0;
    for (size_t i = 0; i < kShardDigits; ++i) {
      const char c = name[pos + i];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    pos += kShardDigits;
    *out = value;
    return true;
  };
  if (!digits(index)) return false;
  if (name.compare(pos, middle.size(), middle) != 0) return false;
  pos += middle.size();
  if (!digits(count)) return false;
  return name.compare(pos, suffix.size(), suffix) == 0;
}

// The files (not directories) `pattern` matches, sorted by name.
StatusOr<std::vector<std::string>> GlobFiles(const std::string& pattern, const std::string& name) {
  glob_t matches{};
  // GLOB_MARK appends '/' to directories, which are then left out.
  const int result = ::glob(pattern.c_str(), GLOB_ERR | GLOB_MARK | GLOB_NOSORT, nullptr, &matches);
  std::vector<std::string> files;
  if (result == 0) {
    for (size_t i = 0; i < matches.gl_pathc; ++i) {
      std::string path = matches.gl_pathv[i];
      if (!path.empty() && path.back() != '/') files.push_back(std::move(path));
    }
  }
  ::globfree(&matches);
  if (result == GLOB_ABORTED) {
    return PermissionDeniedError(name + " '" + pattern +
                                 "': a directory on its path cannot be read");
  }
  if (result == GLOB_NOSPACE) return ResourceExhaustedError(name + " '" + pattern + "': glob");
  if (files.empty()) {
    std::error_code error;
    return NotFoundError(name + " '" + pattern +
                         "' matches no file (relative patterns are "
                         "resolved against the current directory, " +
                         fs::current_path(error).string() + ")");
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

StatusOr<std::vector<std::string>> MatchFiles(const std::vector<std::string>& patterns,
                                              const std::string& field) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string name = field + "[" + std::to_string(i) + "]";
    if (patterns[i].empty()) return InvalidArgumentError(name + " is empty");
    ASSIGN_OR_RETURN(std::vector<std::string> matched, GlobFiles(patterns[i], name));
    for (std::string& file : matched) {
      if (seen.insert(file).second) files.push_back(std::move(file));
    }
  }
  return files;
}

StatusOr<std::vector<std::string>> ListShards(const std::string& dir, const std::string& split) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return NotFoundError("data directory '" + dir + "' does not exist (or is not a directory); " +
                         PrepareHint(dir));
  }
  std::map<int, std::string> shards;  // index -> file name
  std::set<int> counts;
  fs::directory_iterator it(dir, error);
  if (error) return ErrnoToStatus(error.value(), "list directory", dir);
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) return ErrnoToStatus(error.value(), "list directory", dir);
    const std::string name = it->path().filename().string();
    int index = 0;
    int count = 0;
    if (!ParseShardName(name, split, &index, &count)) continue;
    shards[index] = name;
    counts.insert(count);
  }
  if (error) return ErrnoToStatus(error.value(), "list directory", dir);
  if (shards.empty()) {
    return NotFoundError("no '" + split + "-NNNNN-of-NNNNN.tfrecord' shards in '" + dir + "'; " +
                         PrepareHint(dir));
  }
  if (counts.size() > 1) {
    return InvalidArgumentError("'" + dir + "' mixes shard sets of " + split + " with " +
                                std::to_string(*counts.begin()) + " and " +
                                std::to_string(*counts.rbegin()) +
                                " shards; remove the stale files or re-create the directory");
  }
  const int count = *counts.begin();
  std::vector<std::string> paths;
  for (int index = 0; index < count; ++index) {
    auto found = shards.find(index);
    if (found == shards.end()) {
      return NotFoundError("the " + split + " shard set in '" + dir + "' is incomplete: '" +
                           ShardFileName(split, index, count) + "' is missing (found " +
                           std::to_string(shards.size()) + " of " + std::to_string(count) +
                           " shards); " + PrepareHint(dir));
    }
    paths.push_back((fs::path(dir) / found->second).string());
  }
  if (static_cast<int>(shards.size()) > count) {
    return InvalidArgumentError("'" + dir + "' holds " + split + " shard '" +
                                shards.rbegin()->second + "' whose index is not below its count " +
                                std::to_string(count));
  }
  return paths;
}

}  // namespace shardtrain::data
