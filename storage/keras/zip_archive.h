// A read-only zip archive (libzip) whose member reads are checked: a member
// declaring more than 4 GiB, or expanding more than 100x beyond 1 MiB, is
// refused, and a member failing its CRC-32 is DataLoss naming the archive
// and the member. Internal to storage/keras (the .keras reader). Not
// thread-safe: one archive per thread.
#pragma once

#include <string>

#include "common/status.h"

struct zip;

namespace shardtrain::storage::keras {

class ZipArchive {
 public:
  // DataLoss naming `path` when it is not a readable zip archive.
  static StatusOr<ZipArchive> Open(const std::string& path);
  ZipArchive(ZipArchive&& other) noexcept;
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;
  ZipArchive& operator=(ZipArchive&&) = delete;
  ~ZipArchive();

  // The whole member; DataLoss when absent, refused or damaged.
  StatusOr<std::string> Read(const std::string& member) const;

 private:
  ZipArchive() = default;
  struct zip* zip_ = nullptr;
  std::string path_;
};

}  // namespace shardtrain::storage::keras
