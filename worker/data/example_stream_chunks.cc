// ChunkPlan and ChunkReader. See example_stream_chunks.h.
#include "worker/data/example_stream_chunks.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

namespace shardtrain::data {

ChunkPlan::ChunkPlan(std::vector<RecordRange> ranges, const std::vector<int64_t>& resume,
                     int64_t start, int64_t chunk_records)
    : ranges_(std::move(ranges)), chunk_records_(std::max<int64_t>(chunk_records, 1)) {
  int64_t position = 0;
  for (const RecordRange& range : ranges_) {
    range_starts_.push_back(position);
    position += range.num_records;
  }
  PlanResumeChunks(resume);
  if (start < position) {
    range_ = RangeOf(start);
    in_range_ = start - range_starts_[range_];
  } else {
    range_ = ranges_.size();
  }
}

size_t ChunkPlan::RangeOf(int64_t position) const {
  // The last range starting at or before `position` (empty ranges share a
  // start with the range after them, so this skips them).
  const auto after = std::upper_bound(range_starts_.begin(), range_starts_.end(), position);
  return static_cast<size_t>(after - range_starts_.begin()) - 1;
}

void ChunkPlan::PlanResumeChunks(const std::vector<int64_t>& resume) {
  size_t chunk_range = ranges_.size();
  for (const int64_t position : resume) {
    const size_t range = RangeOf(position);
    const int64_t record = ranges_[range].first_record + (position - range_starts_[range]);
    if (range != chunk_range ||
        static_cast<int64_t>(resume_chunks_.back().wanted.size()) >= chunk_records_) {
      resume_chunks_.emplace_back();
      resume_chunks_.back().file = ranges_[range].file;
      resume_chunks_.back().first_record = record;
      chunk_range = range;
    }
    StreamChunk& chunk = resume_chunks_.back();
    chunk.wanted.push_back(record);
    chunk.span = record - chunk.first_record + 1;
  }
}

bool ChunkPlan::Next(StreamChunk* chunk) {
  if (next_resume_ < resume_chunks_.size()) {
    *chunk = resume_chunks_[next_resume_++];
    return true;
  }
  while (range_ < ranges_.size() && in_range_ >= ranges_[range_].num_records) {
    ++range_;
    in_range_ = 0;
  }
  if (range_ >= ranges_.size()) return false;
  const RecordRange& range = ranges_[range_];
  chunk->file = range.file;
  chunk->first_record = range.first_record + in_range_;
  chunk->span = std::min(chunk_records_, range.num_records - in_range_);
  chunk->wanted.clear();
  in_range_ += chunk->span;
  return true;
}

ChunkReader::ChunkReader(const StreamFiles& files, const storage::TfRecordReaderOptions& options,
                         const ExampleDecoder& decoder, bool labels, const std::atomic<bool>& stop)
    : files_(files), options_(options), decoder_(decoder), labels_(labels), stop_(stop) {}

void ChunkReader::Read(const StreamChunk& chunk, DecodedChunk* out) {
  const auto rows = static_cast<size_t>(chunk.rows());
  out->rows = 0;
  out->error = OkStatus();
  out->features.resize(rows * static_cast<size_t>(decoder_.feature_size()));
  if (labels_ && decoder_.label_width() == 0) out->class_ids.resize(rows);
  if (labels_) out->label_values.resize(rows * static_cast<size_t>(decoder_.label_width()));
  for (int64_t row = 0; row < chunk.rows(); ++row) {
    if (stop_.load(std::memory_order_relaxed)) {
      out->error = CancelledError("the stream was closed");
      return;
    }
    const int64_t record = chunk.record(row);
    Status status = MoveTo(chunk.file, record);
    if (status.ok()) status = DecodeRow(chunk.file, record, row, out);
    if (!status.ok()) {
      out->error = std::move(status);
      reader_.reset();  // a failed reader keeps failing: reopen for a later chunk
      file_ = -1;
      return;
    }
    ++out->rows;
  }
}

namespace {

Status EndsBefore(int64_t records, int64_t wanted) {
  return DataLossError("the file ends after " + std::to_string(records) +
                       " records, but the stream reads record " + std::to_string(wanted) +
                       " (was it changed or truncated after it was indexed?)");
}

}  // namespace

Status ChunkReader::MoveTo(int32_t file, int64_t record) {
  if (reader_ == nullptr || file_ != file || reader_->records_read() > record) {
    reader_.reset();
    file_ = -1;
    StatusOr<std::unique_ptr<storage::TfRecordReader>> opened =
        storage::TfRecordReader::Open(files_.paths[static_cast<size_t>(file)], options_);
    if (!opened.ok()) return Located(opened.status(), file, record);
    reader_ = std::move(opened).value();
    file_ = file;
  }
  // In an uncompressed file, jump to the indexed record at or before `record`
  // when that is ahead; Skip the rest.
  const auto index_of = static_cast<size_t>(file);
  if (options_.compression == storage::TfRecordCompression::kNone &&
      index_of < files_.indexes.size() && files_.indexes[index_of].index_every > 0 &&
      !files_.indexes[index_of].offsets.empty()) {
    const storage::RecordIndex& index = files_.indexes[index_of];
    const int64_t k =
        std::min(record / index.index_every, static_cast<int64_t>(index.offsets.size()) - 1);
    const int64_t base = k * index.index_every;
    if (base > reader_->records_read()) {
      const Status seek =
          reader_->Seek(static_cast<uint64_t>(index.offsets[static_cast<size_t>(k)]), base);
      if (!seek.ok()) return Located(seek, file, base);
    }
  }
  while (reader_->records_read() < record) {
    const int64_t at = reader_->records_read();
    StatusOr<bool> skipped = reader_->Skip();
    if (!skipped.ok()) return Located(skipped.status(), file, at);
    if (!*skipped) return Located(EndsBefore(at, record), file, at);
  }
  return OkStatus();
}

Status ChunkReader::DecodeRow(int32_t file, int64_t record, int64_t row, DecodedChunk* out) {
  std::string_view bytes;
  StatusOr<bool> more = reader_->NextView(&bytes);
  if (!more.ok()) return Located(more.status(), file, record);
  if (!*more) return Located(EndsBefore(record, record), file, record);
  const auto r = static_cast<size_t>(row);
  float* features = out->features.data() + r * static_cast<size_t>(decoder_.feature_size());
  int32_t* class_id = nullptr;
  float* values = nullptr;
  if (labels_ && decoder_.label_width() == 0) class_id = out->class_ids.data() + r;
  if (labels_ && decoder_.label_width() > 0) {
    values = out->label_values.data() + r * static_cast<size_t>(decoder_.label_width());
  }
  const Status decoded = decoder_.Decode(bytes, features, class_id, values);
  if (!decoded.ok()) return Located(decoded, file, record);
  return OkStatus();
}

Status ChunkReader::Located(const Status& status, int32_t file, int64_t record) const {
  return status.WithContext(files_.paths[static_cast<size_t>(file)] + ", record " +
                            std::to_string(record));
}

}  // namespace shardtrain::data
