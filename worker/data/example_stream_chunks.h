// The pieces of work of an ExampleStream (example_stream.h): its input rows
// cut into chunks, and the reading and decoding of one chunk.
//
// Contract:
//   * ChunkPlan: the ranges' records, concatenated, are input positions
//     0..n-1. The plan yields first the `resume` positions (sorted, each
//     below `start`: the records a resumed shuffle buffer holds), then the
//     positions [start, n) in order, as chunks of at most `chunk_records`
//     records of one range. A resume chunk lists the records it decodes; the
//     records between them are skipped, not decoded.
//   * ChunkReader: reads a chunk's records with a storage::TfRecordReader it
//     keeps open across chunks (moving forward with Skip, or with Seek to a
//     RecordIndex offset in an uncompressed file, reopening only to move
//     back) and decodes each into a row. It stops at the first error, which
//     it prefixes "FILE, record N: " (N the record being read or skipped).
//     ReadRaw + Decode split the reading from the decoding.
// Neither class is thread-safe; each reader thread owns one ChunkReader.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/stream_order.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/example_decoder.h"
#include "worker/data/example_stream.h"

namespace shardtrain::data {

struct StreamChunk {
  int32_t file = 0;
  int64_t first_record = 0;  // records [first_record, first_record + span) of the file
  int64_t span = 0;
  std::vector<int64_t> wanted;  // empty: decode them all; else only these (sorted)

  int64_t rows() const { return wanted.empty() ? span : static_cast<int64_t>(wanted.size()); }
  int64_t record(int64_t row) const {
    return wanted.empty() ? first_record + row : wanted[static_cast<size_t>(row)];
  }
};

class ChunkPlan {
 public:
  ChunkPlan(std::vector<RecordRange> ranges, const std::vector<int64_t>& resume, int64_t start,
            int64_t chunk_records);

  // The next chunk into `*chunk`; false when the plan is exhausted.
  bool Next(StreamChunk* chunk);

 private:
  // Cuts the resume positions into chunks of one range each.
  void PlanResumeChunks(const std::vector<int64_t>& resume);
  // The range holding input position `position`.
  size_t RangeOf(int64_t position) const;

  std::vector<RecordRange> ranges_;
  std::vector<int64_t> range_starts_;  // input position of each range's first record
  int64_t chunk_records_;
  std::vector<StreamChunk> resume_chunks_;
  size_t next_resume_ = 0;
  size_t range_ = 0;  // the sequential part's cursor: range and record within it
  int64_t in_range_ = 0;
};

// One chunk's decoded rows: the first `rows` are valid; a non-OK `error`
// stopped the chunk at row `rows`.
struct DecodedChunk {
  std::vector<float> features;      // rows x feature_size
  std::vector<int32_t> class_ids;   // class-id targets
  std::vector<float> label_values;  // rows x label_width (VECTOR targets)
  int64_t rows = 0;
  Status error;
};

// A chunk's records as read, not yet decoded: record i is bytes[ends[i-1],
// ends[i]); a non-OK `error` stopped the chunk after ends.size() records.
struct RawChunk {
  std::string bytes;
  std::vector<size_t> ends;
  Status error;
};

class ChunkReader {
 public:
  // `files`, `decoder` and `stop` must outlive the reader. Targets are decoded
  // when `labels` is set; a set `stop` abandons a chunk (Cancelled).
  ChunkReader(const StreamFiles& files, const storage::TfRecordReaderOptions& options,
              const ExampleDecoder& decoder, bool labels, const std::atomic<bool>& stop);

  // Reads and decodes `chunk` into `*out` (its buffers are reused).
  void Read(const StreamChunk& chunk, DecodedChunk* out);
  // The same in two steps: ReadRaw copies the records' bytes, Decode decodes
  // them (on any ChunkReader). Compressed files are read this way, by one
  // ChunkReader in chunk order, so that no thread decompresses another's
  // chunks to skip them.
  void ReadRaw(const StreamChunk& chunk, RawChunk* raw);
  void Decode(const StreamChunk& chunk, const RawChunk& raw, DecodedChunk* out);

 private:
  using RecordSink = std::function<Status(int64_t row, int64_t record, std::string_view bytes)>;
  // Reads `chunk`'s records in order into `take`; the first error.
  Status Visit(const StreamChunk& chunk, const RecordSink& take);
  // Positions the reader so that the next record read is `record` of `file`.
  Status MoveTo(int32_t file, int64_t record);
  // Sizes `*out` for `rows` rows; no row is valid yet.
  void Prepare(int64_t rows, DecodedChunk* out) const;
  // Decodes `bytes` (`record` of `file`) into row `row` of `*out`.
  Status DecodeRow(int32_t file, int64_t record, std::string_view bytes, int64_t row,
                   DecodedChunk* out) const;
  // Prefixes `status` with the file and the record the reader is at.
  Status Located(const Status& status, int32_t file, int64_t record) const;

  const StreamFiles& files_;
  const storage::TfRecordReaderOptions& options_;
  const ExampleDecoder& decoder_;
  bool labels_;
  const std::atomic<bool>& stop_;
  int32_t file_ = -1;  // the file reader_ reads
  std::unique_ptr<storage::TfRecordReader> reader_;
};

}  // namespace shardtrain::data
