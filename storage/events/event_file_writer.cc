#include "storage/events/event_file_writer.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "proto/tf/event.pb.h"
#include "storage/events/events_format.h"

namespace shardtrain::storage::events {
namespace {

// Files this process opened; part of each name so two writers opened in the
// same second (train/ and validation/, or a reopen) never share a name.
std::atomic<int64_t> file_counter{0};

std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace

double WallTimeNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EventFileWriter::FileName(int64_t unix_seconds, std::string_view host, int64_t pid,
                                      int64_t counter) {
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%010lld", static_cast<long long>(unix_seconds));
  return std::string(kFileNamePrefix) + seconds + "." + std::string(host) + "." +
         std::to_string(pid) + "." + std::to_string(counter) + std::string(kFileNameSuffix);
}

StatusOr<std::unique_ptr<EventFileWriter>> EventFileWriter::Open(const std::string& log_dir) {
  std::error_code error;
  std::filesystem::create_directories(log_dir, error);
  if (error) {
    return PermissionDeniedError("cannot create the TensorBoard log directory '" + log_dir +
                                 "': " + error.message());
  }
  const double now = WallTimeNow();
  const std::string name = FileName(static_cast<int64_t>(now), HostName(),
                                    static_cast<int64_t>(getpid()), file_counter++);
  const std::string path = (std::filesystem::path(log_dir) / name).string();
  ASSIGN_OR_RETURN(std::unique_ptr<TfRecordWriter> writer, TfRecordWriter::Open(path));
  tf::Event first;
  first.set_wall_time(now);
  first.set_file_version(std::string(kFileVersion));
  RETURN_IF_ERROR(writer->Write(first.SerializeAsString()));
  RETURN_IF_ERROR(writer->Flush());
  return std::unique_ptr<EventFileWriter>(new EventFileWriter(std::move(writer)));
}

Status EventFileWriter::WriteScalar(std::string_view tag, int64_t step, float value,
                                    double wall_time) {
  tf::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  tf::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(std::string(tag));
  tf::ScalarTensorProto* tensor = v->mutable_tensor();
  tensor->set_dtype(tf::DT_FLOAT);
  tensor->mutable_tensor_shape();  // present and empty: a scalar
  tensor->add_float_val(value);
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name(std::string(kScalarsPluginName));
  RETURN_IF_ERROR(writer_->Write(event.SerializeAsString()));
  return writer_->Flush();
}

Status EventFileWriter::WriteScalar(std::string_view tag, int64_t step, float value) {
  return WriteScalar(tag, step, value, WallTimeNow());
}

Status EventFileWriter::Close() { return writer_->Close(); }

}  // namespace shardtrain::storage::events
