#include "worker/callbacks/metrics_log.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace shardtrain::callbacks {

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
