#include "worker/callbacks/metrics_log.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "worker/callbacks/log_file_rewrite.h"

namespace shardtrain::callbacks {
namespace {

// The 1-based epoch of a line as OnEpochEnd writes it ({"epoch": N, ...}), or
// -1 when the line does not start so.
int64_t LineEpoch(const std::string& line) {
  constexpr std::string_view kPrefix = "{\"epoch\": ";
  if (line.compare(0, kPrefix.size(), kPrefix) != 0) return -1;
  int64_t epoch = -1;
  const char* end = line.data() + line.size();
  auto [next, error] = std::from_chars(line.data() + kPrefix.size(), end, epoch);
  if (error != std::errc() || next == end || *next != ',' || epoch < 1) return -1;
  return epoch;
}

// The complete lines of `path` whose epoch is below `keep_below`; *dropped
// tells whether any line (or a torn last one) was left out.
StatusOr<std::vector<std::string>> LinesBefore(const std::string& path, int64_t keep_below,
                                               bool* dropped) {
  std::ifstream in(path);
  if (!in) return ErrnoToStatus(errno, "open", path);
  std::vector<std::string> kept;
  *dropped = false;
  for (std::string line; std::getline(in, line);) {
    // A line without its newline was torn by a crash: dropped.
    const bool keep = !in.eof() && LineEpoch(line) >= 1 && LineEpoch(line) < keep_below;
    if (keep) kept.push_back(std::move(line));
    *dropped = *dropped || !keep;
  }
  if (in.bad()) return DataLossError("reading '" + path + "' failed");
  return kept;
}

}  // namespace

StatusOr<std::unique_ptr<MetricsLog>> MetricsLog::Open(const std::string& run_dir, bool append) {
  std::filesystem::path dir = std::filesystem::path(run_dir) / "logs";
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return PermissionDeniedError("cannot create the run directory '" + dir.string() +
                                 "': " + error.message() +
                                 "; choose a writable place with --run-dir");
  }
  std::string path = (dir / "metrics.jsonl").string();
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  if (!out) {
    return ErrnoToStatus(errno, "open", path).WithContext(
        "cannot write the metrics log; choose a writable place with --run-dir");
  }
  return std::unique_ptr<MetricsLog>(new MetricsLog(std::move(path), std::move(out)));
}

Status MetricsLog::OnTrainBegin(const TrainBegin& begin) {
  bool dropped = false;
  ASSIGN_OR_RETURN(std::vector<std::string> kept, LinesBefore(path_, begin.first_epoch, &dropped));
  if (!dropped) return OkStatus();
  out_.close();  // the rename replaces the file it writes to
  RETURN_IF_ERROR(
      RewriteLogFile(path_, kept)
          .WithContext("cannot drop the epochs that will be trained again from the metrics log"));
  out_.open(path_, std::ios::app);
  if (!out_) {
    return ErrnoToStatus(errno, "open", path_)
        .WithContext("cannot write the metrics log; choose a writable place with --run-dir");
  }
  return OkStatus();
}

Status MetricsLog::OnEpochEnd(const EpochEnd& e) {
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), "{\"epoch\": %lld, \"step\": %lld",
                static_cast<long long>(e.epoch), static_cast<long long>(e.step));
  std::string line = buffer;
  for (const auto& [name, value] : e.logs) {
    std::snprintf(buffer, sizeof(buffer), "%.17g", value);
    line += ", \"" + name + "\": " + buffer;
  }
  std::snprintf(buffer, sizeof(buffer),
                ", \"examples\": %lld, \"examples_per_sec\": %.1f, \"wall_seconds\": %.3f}\n",
                static_cast<long long>(e.examples), e.examples_per_sec, e.wall_seconds);
  out_ << line << buffer;
  out_.flush();
  if (!out_) return DataLossError("writing '" + path_ + "' failed (disk full?)");
  return OkStatus();
}

}  // namespace shardtrain::callbacks
