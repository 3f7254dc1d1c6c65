// EventFileWriter: one TensorBoard event file (format: events_format.h).
//
// Open() creates the log directory, names a fresh file
// events.out.tfevents.<time>.<host>.<pid>.<n>.v2 in it, and writes and flushes
// the file_version record. WriteScalar() appends one Event with a TF2 scalar
// summary (tag, step, float value) and flushes it to the OS, so a TensorBoard
// reading the directory sees it at once. Close() fsyncs and closes. Errors are
// Status values naming the file; after a failed write every later call fails
// with the first error. Not thread-safe; distinct writers are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/tfrecord/tfrecord.h"

namespace shardtrain::storage::events {

class EventFileWriter {
 public:
  // Creates `log_dir` (and its parents) and the event file in it.
  // PermissionDenied / NotFound etc. (naming the directory or file) when that fails.
  static StatusOr<std::unique_ptr<EventFileWriter>> Open(const std::string& log_dir);

  // The file name Open() would use for the given parts (exposed for tests):
  // "events.out.tfevents.<unix_seconds, 10 digits>.<host>.<pid>.<counter>.v2".
  static std::string FileName(int64_t unix_seconds, std::string_view host, int64_t pid,
                              int64_t counter);

  // Appends Event{wall_time, step, summary: tag = value} and flushes.
  // `wall_time` is seconds since the Unix epoch; the overload without it uses now.
  Status WriteScalar(std::string_view tag, int64_t step, float value, double wall_time);
  Status WriteScalar(std::string_view tag, int64_t step, float value);

  // Flush (already done per write), fsync and close. Idempotent.
  Status Close();

  const std::string& path() const { return writer_->path(); }

 private:
  explicit EventFileWriter(std::unique_ptr<TfRecordWriter> writer) : writer_(std::move(writer)) {}

  std::unique_ptr<TfRecordWriter> writer_;
};

// Seconds since the Unix epoch, with sub-second precision (an Event's wall_time).
double WallTimeNow();

}  // namespace shardtrain::storage::events
