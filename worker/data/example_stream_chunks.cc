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

namespace {

Status EndsBefore(int64_t records, int64_t wanted) {
  return DataLossError("the file ends after " + std::to_string(records) +
                       " records, but the stream reads record " + std::to_string(wanted) +
                       " (was it changed or truncated after it was indexed?)");
}

}  // namespace

void ChunkReader::Prepare(int64_t rows, DecodedChunk* out) const {
  const auto n = static_cast<size_t>(rows);
  out->rows = 0;
  out->error = OkStatus();
  out->features.resize(n * static_cast<size_t>(decoder_.feature_size()));
  if (labels_ && decoder_.label_width() == 0) out->class_ids.resize(n);
  if (labels_) out->label_values.resize(n * static_cast<size_t>(decoder_.label_width()));
}

void ChunkReader::Read(const StreamChunk& chunk, DecodedChunk* out) {
  Prepare(chunk.rows(), out);
  out->error = Visit(chunk, [&](int64_t row, int64_t record, std::string_view bytes) {
    RETURN_IF_ERROR(DecodeRow(chunk.file, record, bytes, row, out));
    ++out->rows;
    return OkStatus();
  });
}

void ChunkReader::ReadRaw(const StreamChunk& chunk, RawChunk* raw) {
  raw->bytes.clear();
  raw->ends.clear();
  raw->error = Visit(chunk, [raw](int64_t, int64_t, std::string_view bytes) {
    raw->bytes.append(bytes);
    raw->ends.push_back(raw->bytes.size());
    return OkStatus();
  });
}

void ChunkReader::Decode(const StreamChunk& chunk, const RawChunk& raw, DecodedChunk* out) {
  Prepare(chunk.rows(), out);
  size_t begin = 0;
  for (size_t row = 0; row < raw.ends.size(); ++row) {
    if (stop_.load(std::memory_order_relaxed)) {
      out->error = CancelledError("the stream was closed");
      return;
    }
    const auto i = static_cast<int64_t>(row);
    const std::string_view bytes(raw.bytes.data() + begin, raw.ends[row] - begin);
    out->error = DecodeRow(chunk.file, chunk.record(i), bytes, i, out);
    if (!out->error.ok()) return;
    ++out->rows;
    begin = raw.ends[row];
  }
  out->error = raw.error;
}

Status ChunkReader::Visit(const StreamChunk& chunk, const RecordSink& take) {
  for (int64_t row = 0; row < chunk.rows(); ++row) {
    if (stop_.load(std::memory_order_relaxed)) return CancelledError("the stream was closed");
    const int64_t record = chunk.record(row);
    std::string_view bytes;
    Status status = MoveTo(chunk.file, record);
    if (status.ok()) {
      StatusOr<bool> more = reader_->NextView(&bytes);
      if (!more.ok()) status = Located(more.status(), chunk.file, record);
      if (more.ok() && !*more) status = Located(EndsBefore(record, record), chunk.file, record);
    }
    if (status.ok()) status = take(row, record, bytes);
    if (!status.ok()) {
      reader_.reset();  // a failed reader keeps failing: reopen for a later chunk
      file_ = -1;
      return status;
    }
  }
  return OkStatus();
}

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

Status ChunkReader::DecodeRow(int32_t file, int64_t record, std::string_view bytes, int64_t row,
                              DecodedChunk* out) const {
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
