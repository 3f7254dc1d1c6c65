// RewriteLogFile (log_file_rewrite.h): PATH.tmp, written and closed, renamed over PATH.
#include "worker/callbacks/log_file_rewrite.h"

#include <cerrno>
#include <filesystem>
#include <fstream>

namespace shardtrain::callbacks {

Status RewriteLogFile(const std::string& path, const std::vector<std::string>& lines) {
  const std::string temp = path + ".tmp";
  std::ofstream out(temp, std::ios::trunc);
  if (!out) return ErrnoToStatus(errno, "open", temp);
  for (const std::string& line : lines) out << line << '\n';
  out.flush();
  if (!out) return DataLossError("writing '" + temp + "' failed (disk full?)");
  out.close();
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  if (error) {
    return InternalError("cannot rename '" + temp + "' to '" + path + "': " + error.message());
  }
  return OkStatus();
}

}  // namespace shardtrain::callbacks
