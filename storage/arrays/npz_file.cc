// Reads arrays out of NumPy .npz archives with libzip. See npz_file.h.
#include "storage/arrays/npz_file.h"

#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace shardtrain::storage {
namespace {

constexpr uint64_t kMaxMemberBytes = uint64_t{16} << 30;
constexpr char kSuffix[] = ".npy";
constexpr size_t kSuffixSize = 4;

struct ZipCloser {
  void operator()(zip_t* zip) const { zip_discard(zip); }
};
using ZipHandle = std::unique_ptr<zip_t, ZipCloser>;

StatusOr<ZipHandle> OpenArchive(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return NotFoundError("cannot open " + path);
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (zip == nullptr) {
    zip_error_t e;
    zip_error_init_with_code(&e, error);
    const std::string message = zip_error_strerror(&e);
    zip_error_fini(&e);
    return DataLossError(path + ": not a readable .npz (zip) archive: " + message);
  }
  return ZipHandle(zip);
}

std::vector<std::string> ArrayNames(zip_t* zip) {
  std::vector<std::string> names;
  const zip_int64_t count = zip_get_num_entries(zip, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(zip, static_cast<zip_uint64_t>(i), 0);
    if (name == nullptr) continue;
    const std::string member = name;
    if (member.size() > kSuffixSize &&
        member.compare(member.size() - kSuffixSize, kSuffixSize, kSuffix) == 0) {
      names.push_back(member.substr(0, member.size() - kSuffixSize));
    }
  }
  return names;
}

// The member's bytes, read in chunks so that memory grows with the bytes that
// actually inflate rather than with the size the archive declares (a crafted
// tiny archive may declare 16 GiB). libzip checks the CRC-32 once a read
// reaches the end, so the read goes on until it returns 0; more or fewer bytes
// than `size` is DataLoss. `name` is "PATH:MEMBER", for messages.
StatusOr<std::string> ReadMember(zip_t* zip, const std::string& member, const std::string& name,
                                 zip_uint64_t size) {
  zip_file_t* file = zip_fopen(zip, member.c_str(), 0);
  if (file == nullptr) return DataLossError(name + ": cannot open: " + zip_strerror(zip));
  constexpr size_t kChunk = size_t{1} << 20;
  std::string data;
  zip_int64_t got = 0;
  do {
    const size_t held = data.size();
    data.resize(held + kChunk);
    got = zip_fread(file, data.data() + held, kChunk);
    data.resize(held + static_cast<size_t>(std::max<zip_int64_t>(got, 0)));
  } while (got > 0 && data.size() <= size);
  const std::string why = got < 0 ? zip_file_strerror(file) : "";
  zip_fclose(file);
  if (got < 0 || data.size() != size) {
    return DataLossError(name + ": damaged archive member (" +
                         (why.empty() ? "read " + std::to_string(data.size()) +
                                            " bytes, the archive declares " + std::to_string(size)
                                      : why) +
                         ")");
  }
  return data;
}

}  // namespace

StatusOr<NpyData> ReadNpzArray(const std::string& path, const std::string& key) {
  ASSIGN_OR_RETURN(ZipHandle zip, OpenArchive(path));
  const std::string member = key + kSuffix;
  const std::string name = path + ":" + member;
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat(zip.get(), member.c_str(), 0, &stat) != 0) {
    std::string held;
    for (const std::string& array : ArrayNames(zip.get()))
      held += (held.empty() ? "" : ", ") + array;
    return InvalidArgumentError(path + " has no array '" + key +
                                "'; it holds: " + (held.empty() ? std::string("no arrays") : held));
  }
  if (!(stat.valid & ZIP_STAT_SIZE) || stat.size > kMaxMemberBytes) {
    return DataLossError(name + ": declares " + std::to_string(stat.size) +
                         " bytes (more than 16 GiB or unknown), refused");
  }
  ASSIGN_OR_RETURN(std::string bytes, ReadMember(zip.get(), member, name, stat.size));
  return ParseNpy(name, std::move(bytes));
}

}  // namespace shardtrain::storage
