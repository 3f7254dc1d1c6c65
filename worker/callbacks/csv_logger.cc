#include "worker/callbacks/csv_logger.h"

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <limits>
#include <vector>

#include "common/shortest_decimal.h"
#include "worker/callbacks/log_file_rewrite.h"

namespace shardtrain::callbacks {
namespace {

// The 0-based epoch of a data row, or -1 when the row does not start with one.
int64_t RowEpoch(const std::string& line) {
  int64_t epoch = -1;
  const char* begin = line.data();
  const char* end = begin + line.size();
  auto [next, error] = std::from_chars(begin, end, epoch);
  if (error != std::errc() || next == end || *next != ',' || epoch < 0) return -1;
  return epoch;
}

// Rewrites `path` with `expected_header` and the rows of epochs < `keep_below`.
Status KeepFinishedEpochs(const std::string& path, const std::string& expected_header,
                          int64_t keep_below) {
  std::ifstream in(path);
  if (!in) return ErrnoToStatus(errno, "open", path);
  std::string header;
  std::getline(in, header);
  if (!header.empty() && header.back() == '\r') header.pop_back();
  if (header != expected_header) {
    return FailedPreconditionError(
        "'" + path + "' does not start with the header '" + expected_header + "' (found '" +
        header.substr(0, 200) +
        "'); move it away or start afresh with --no-resume so training can log there");
  }
  std::vector<std::string> kept;
  std::string line;
  while (std::getline(in, line)) {
    // A row without its newline was torn by a crash: RowEpoch still parses
    // its epoch, but its later columns may be cut, so it is dropped.
    if (in.eof()) break;
    const int64_t epoch = RowEpoch(line);
    if (epoch >= 0 && epoch < keep_below) kept.push_back(line);
  }
  if (in.bad()) return DataLossError("reading '" + path + "' failed");
  in.close();

  kept.insert(kept.begin(), expected_header);
  return RewriteLogFile(path, kept);
}

}  // namespace

std::string CsvLogger::Header(const std::vector<std::string>& log_names) {
  std::string header = "epoch";
  for (const std::string& name : log_names) header += "," + name;
  return header + ",step,examples_per_sec,epoch_seconds";
}

StatusOr<std::unique_ptr<CsvLogger>> CsvLogger::Open(const std::string& run_dir,
                                                     int64_t first_epoch,
                                                     std::vector<std::string> log_names) {
  std::filesystem::path dir = std::filesystem::path(run_dir) / "logs";
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return PermissionDeniedError("cannot create the run directory '" + dir.string() +
                                 "': " + error.message() +
                                 "; choose a writable place with --run-dir");
  }
  std::string path = (dir / "training.csv").string();
  const std::string header = Header(log_names);
  const bool resume = first_epoch > 1 && std::filesystem::exists(path, error);
  if (resume) {
    RETURN_IF_ERROR(KeepFinishedEpochs(path, header, first_epoch - 1));
  }
  std::ofstream out(path, resume ? std::ios::app : std::ios::trunc);
  if (!out) {
    return ErrnoToStatus(errno, "open", path).WithContext(
        "cannot write the training CSV log; choose a writable place with --run-dir");
  }
  if (!resume) {
    out << header << '\n';
    out.flush();
    if (!out) return DataLossError("writing '" + path + "' failed (disk full?)");
  }
  return std::unique_ptr<CsvLogger>(
      new CsvLogger(std::move(path), std::move(out), std::move(log_names)));
}

Status CsvLogger::OnEpochEnd(const EpochEnd& e) {
  out_ << (e.epoch - 1) << ',';
  for (const std::string& name : log_names_) {
    out_ << ShortestDecimal(e.Log(name).value_or(std::numeric_limits<double>::quiet_NaN())) << ',';
  }
  out_ << e.step << ',' << ShortestDecimal(e.examples_per_sec) << ','
       << ShortestDecimal(e.epoch_seconds) << '\n';
  out_.flush();
  if (!out_) return DataLossError("writing '" + path_ + "' failed (disk full?)");
  return OkStatus();
}

}  // namespace shardtrain::callbacks
