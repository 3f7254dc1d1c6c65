#include "storage/keras/zip_archive.h"

#include <zip.h>

#include <algorithm>
#include <cstdint>

namespace shardtrain::storage::keras {
namespace {

// Zip members larger than this, or expanding more than 100x, are refused.
constexpr uint64_t kMaxZipMember = uint64_t{4} << 30;

bool RefusedSize(const zip_stat_t& stat) {
  return stat.size > kMaxZipMember ||
         ((stat.valid & ZIP_STAT_COMP_SIZE) &&
          stat.size > 100 * std::max<uint64_t>(stat.comp_size, 1) && stat.size > (1 << 20));
}

}  // namespace

StatusOr<ZipArchive> ZipArchive::Open(const std::string& path) {
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (zip == nullptr) {
    zip_error_t e;
    zip_error_init_with_code(&e, error);
    std::string message = zip_error_strerror(&e);
    zip_error_fini(&e);
    return DataLossError("'" + path + "' is not a readable zip archive: " + message);
  }
  ZipArchive archive;
  archive.zip_ = zip;
  archive.path_ = path;
  return archive;
}

ZipArchive::ZipArchive(ZipArchive&& other) noexcept
    : zip_(other.zip_), path_(std::move(other.path_)) {
  other.zip_ = nullptr;
}

ZipArchive::~ZipArchive() {
  if (zip_ != nullptr) zip_discard(zip_);
}

StatusOr<std::string> ZipArchive::Read(const std::string& member) const {
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(zip_, member.c_str(), 0, &stat) != 0) {
    return DataLossError("'" + path_ + "' has no member " + member + " (not a .keras archive?)");
  }
  if (RefusedSize(stat)) {
    return DataLossError("'" + path_ + "': member " + member + " declares " +
                         std::to_string(stat.size) + " bytes, refused");
  }
  zip_file_t* file = zip_fopen(zip_, member.c_str(), 0);
  if (file == nullptr) return DataLossError("'" + path_ + "': cannot open member " + member);
  std::string data(static_cast<size_t>(stat.size), '\0');
  zip_int64_t got = data.empty() ? 0 : zip_fread(file, data.data(), data.size());
  // libzip checks the member's CRC-32 when a read reaches its end: read past it.
  char past_end = 0;
  const zip_int64_t extra =
      got == static_cast<zip_int64_t>(data.size()) ? zip_fread(file, &past_end, 1) : 0;
  const std::string why = got < 0 || extra < 0 ? zip_file_strerror(file) : "";
  zip_fclose(file);
  if (got != static_cast<zip_int64_t>(data.size()) || extra != 0) {
    return DataLossError("'" + path_ + "': member " + member + " is damaged (" +
                         (why.empty() ? "read " + std::to_string(got) + " of " +
                                            std::to_string(data.size()) + " bytes"
                                      : why) +
                         ")");
  }
  return data;
}

}  // namespace shardtrain::storage::keras
