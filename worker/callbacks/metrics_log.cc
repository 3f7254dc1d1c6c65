#include "worker/callbacks/metrics_log.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>

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
  char line[512];
  std::snprintf(line, sizeof(line),
                "{\"epoch\": %lld, \"step\": %lld, \"loss\": %.17g, \"accuracy\": %.17g, "
                "\"val_loss\": %.17g, \"val_accuracy\": %.17g, \"examples\": %lld, "
                "\"examples_per_sec\": %.1f, \"wall_seconds\": %.3f}\n",
                static_cast<long long>(e.epoch), static_cast<long long>(e.step), e.loss,
                e.accuracy, e.val_loss, e.val_accuracy, static_cast<long long>(e.examples),
                e.examples_per_sec, e.wall_seconds);
  out_ << line;
  out_.flush();
  if (!out_) return DataLossError("writing '" + path_ + "' failed (disk full?)");
  return OkStatus();
}

}  // namespace shardtrain::callbacks
