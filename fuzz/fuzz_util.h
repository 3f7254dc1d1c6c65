// Helpers shared by the libFuzzer harnesses: the input as a string, and a
// private scratch directory for parsers that only read real files.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "storage/io/file_system.h"

namespace shardtrain::fuzz {

inline std::string AsString(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A directory of this process, made once under $TMPDIR (or /tmp) and not
// removed: scripts/fuzz.sh points TMPDIR at a directory it deletes afterwards.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/shardtrain-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
  }();
  return dir;
}

// Writes `contents` to ScratchDir()/name and returns the path.
inline std::string WriteScratchFile(const std::string& name, const std::string& contents) {
  const std::string path = ScratchDir() + "/" + name;
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (!contents.empty() &&
      std::fwrite(contents.data(), 1, contents.size(), file) != contents.size()) {
    std::abort();
  }
  std::fclose(file);
  return path;
}

// Creates file `path` (its directory must exist) holding `contents` in `fs`.
inline void PutMemoryFile(storage::MemoryFileSystem* fs, const std::string& path,
                          const std::string& contents) {
  auto file = fs->NewWritableFile(path);
  if (!file.ok() || !(*file)->Append(contents).ok() || !(*file)->Close().ok()) std::abort();
}

}  // namespace shardtrain::fuzz
