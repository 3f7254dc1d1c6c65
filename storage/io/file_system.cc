// The parts of file_system.h that every implementation shares: path helpers
// and the checksumming defaults of WritableFile and RandomAccessFile. The file
// systems are posix_file_system.cc and memory_file_system.cc.
#include "storage/io/file_system.h"

#include "storage/io/crc32c.h"

namespace shardtrain::storage {

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  std::string_view dir = path.substr(0, slash);
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  return std::string(dir);
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out.push_back('/');
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  out.append(name);
  return out;
}

Status WritableFile::AppendWithCrc32c(std::string_view data, uint32_t* crc) {
  RETURN_IF_ERROR(Append(data));
  *crc = Crc32cExtend(*crc, data.data(), data.size());
  return OkStatus();
}

StatusOr<size_t> RandomAccessFile::ReadWithCrc32c(uint64_t offset, size_t n, char* out,
                                                  uint32_t* crc) const {
  size_t got = 0;
  ASSIGN_OR_RETURN(got, Read(offset, n, out));
  *crc = Crc32cExtend(*crc, out, got);
  return got;
}

}  // namespace shardtrain::storage
