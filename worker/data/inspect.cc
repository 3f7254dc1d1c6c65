// Describes the Examples of a TFRecord file. See inspect.h.
#include "worker/data/inspect.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string_view>
#include <vector>

#include "proto/tf/example.pb.h"
#include "storage/io/file_system.h"
#include "storage/tfrecord/tfrecord.h"

namespace shardtrain::data {
namespace {

constexpr int kShownValues = 4;

// The first bytes of `path` (up to 16), read only once it is known to be a
// regular file: a FIFO would block the read forever (InvalidArgument instead).
StatusOr<std::string> FileHead(const std::string& path) {
  uint64_t size = 0;
  ASSIGN_OR_RETURN(const int fd, storage::OpenRegularFileForReading(path, &size));
  char head[16] = {};
  const ssize_t got = ::read(fd, head, sizeof(head));
  ::close(fd);
  if (got < 0) return DataLossError("reading " + path + " failed");
  return std::string(head, static_cast<size_t>(got));
}

// The compression to read `path` with, and how it was chosen.
StatusOr<storage::TfRecordCompression> ChooseCompression(const std::string& path,
                                                         const InspectOptions& options,
                                                         std::string* how) {
  if (options.compression) return *options.compression;
  ASSIGN_OR_RETURN(const std::string head, FileHead(path));
  const auto guess = storage::GuessTfRecordCompression(head);
  if (guess == storage::TfRecordCompression::kGzip) {
    *how = " (detected: gzip magic 1f 8b)";
  } else if (guess == storage::TfRecordCompression::kZlib) {
    *how = " (detected: zlib stream)";
  }
  return guess.value_or(storage::TfRecordCompression::kNone);
}

std::string Count(int64_t n) { return std::to_string(n) + (n == 1 ? " value" : " values"); }

// " [1, 2]" for lists of at most kShownValues values, else "".
template <typename List>
std::string ShownValues(const List& values) {
  if (values.size() > kShownValues) return "";
  std::ostringstream text;
  text << " [";
  for (int i = 0; i < values.size(); ++i) text << (i ? ", " : "") << values.Get(i);
  text << "]";
  return text.str();
}

std::string ImageKind(const std::string& bytes) {
  if (bytes.rfind("\x89PNG\r\n\x1a\n", 0) == 0) return ", PNG image";
  if (bytes.rfind("\xff\xd8\xff", 0) == 0) return ", JPEG image";
  return "";
}

std::string DescribeFeature(const tf::Feature& feature) {
  if (feature.has_float_list()) {
    return "float_list, " + Count(feature.float_list().value_size()) +
           ShownValues(feature.float_list().value());
  }
  if (feature.has_int64_list()) {
    return "int64_list, " + Count(feature.int64_list().value_size()) +
           ShownValues(feature.int64_list().value());
  }
  if (!feature.has_bytes_list()) return "no value list (empty feature)";
  const auto& values = feature.bytes_list().value();
  if (values.empty()) return "bytes_list, 0 values";
  size_t total = 0;
  for (const std::string& value : values) total += value.size();
  return "bytes_list, " + Count(values.size()) + " (" + std::to_string(total) +
         (values.size() == 1 ? " bytes" : " bytes in all") + ImageKind(values.Get(0)) + ")";
}

Status DescribeRecord(const std::string& path, int64_t index, std::string_view record,
                      std::ostream* out) {
  tf::Example example;
  if (!example.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return DataLossError(path + ", record " + std::to_string(index) + ": the " +
                         std::to_string(record.size()) +
                         " bytes are not a serialized tf.train.Example");
  }
  const auto& features = example.features().feature();
  std::vector<std::string> keys;
  for (const auto& [key, unused] : features) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  *out << "record " << index << ": " << keys.size() << (keys.size() == 1 ? " feature" : " features")
       << "\n";
  for (const std::string& key : keys) {
    *out << "  " << key << ": " << DescribeFeature(features.at(key)) << "\n";
  }
  return OkStatus();
}

}  // namespace

Status InspectTfRecordFile(const std::string& path, const InspectOptions& options,
                           std::ostream* out) {
  std::string how;
  storage::TfRecordReaderOptions reader_options;
  ASSIGN_OR_RETURN(reader_options.compression, ChooseCompression(path, options, &how));
  reader_options.compression_setting = "--compression";
  ASSIGN_OR_RETURN(std::unique_ptr<storage::TfRecordReader> reader,
                   storage::TfRecordReader::Open(path, reader_options));
  *out << path << ": compression " << storage::TfRecordCompressionName(reader_options.compression)
       << how << "\n";
  std::string_view record;
  while (reader->records_read() < options.records || options.count) {
    const int64_t index = reader->records_read();
    ASSIGN_OR_RETURN(const bool more, reader->NextView(&record));
    if (!more) break;
    if (index < options.records) RETURN_IF_ERROR(DescribeRecord(path, index, record, out));
  }
  if (reader->records_read() == 0) *out << "no records\n";
  if (options.count) *out << "records: " << reader->records_read() << "\n";
  return OkStatus();
}

}  // namespace shardtrain::data
