// ExampleStream: one rank's training examples of an epoch, streamed from its
// shards (record ranges of TFRecord files, coordinator/stream_plan.h) with
// background reading and decoding, through a shuffle buffer.
//
// Contract:
//   * Order: the ranges' records, concatenated in order, are the input
//     positions 0..n-1 of common/stream_order.h's ShuffleOrder(seed,
//     shuffle_key, shuffle_buffer, n); Next() delivers examples in its
//     emission order, so the stream is a pure function of its arguments
//     whatever the thread timing.
//   * Background: `reader_threads` threads read and decode ranges (in chunks of
//     at most `chunk_records` records) ahead of the consumer, at most
//     `prefetch_chunks` decoded chunks ahead; the calling (training) thread only
//     copies decoded rows. Memory: the shuffle buffer's slots plus the
//     prefetched chunks, independent of the files' sizes.
//   * Resume: `skip` > 0 starts the stream as if `skip` examples had been
//     taken: ShuffleOrder is replayed `skip` draws, the records then held in
//     its slots are read into them, and reading continues at next_input();
//     records in between are skipped without decoding (seeking over them in an
//     uncompressed file with the file's RecordIndex offsets).
//   * Errors: a decode error (example_decoder.h) or a read error (DataLoss,
//     NotFound, ...) is returned by the Next() call that needs that record
//     (to fill the buffer slot it would enter), prefixed "FILE, record N: ",
//     and every later call returns it (a failed call's rows are not to be
//     used); no example after a bad record is delivered. The destructor stops
//     and joins the threads, also mid-stream.
//   * Cost: in uncompressed files each reader thread moves forward over the
//     other threads' chunks with Skip (header reads) or Seek; compressed files
//     are decompressed once, by the thread whose turn it is (chunk order),
//     and decoded in parallel.
// Not thread-safe (one consumer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/stream_order.h"
#include "proto/config.pb.h"
#include "storage/tfrecord/record_index.h"
#include "worker/data/example_decoder.h"

namespace shardtrain::data {

// The training files a stream's ranges index into (RecordRange::file).
struct StreamFiles {
  std::vector<std::string> paths;
  // Per file (or empty: no range check, no seeking): the record count Open
  // checks ranges against, and the offsets an uncompressed file is sought with.
  std::vector<storage::RecordIndex> indexes;
  config::Compression compression = config::NONE;
  // The files are a `shardtrain data prepare` shard set: corruption messages
  // say to re-create it with `shardtrain data prepare`.
  bool prepared_shards = false;
};

struct StreamOptions {
  uint64_t seed = 0;
  uint64_t shuffle_key = 0;    // StreamShuffleKey(epoch, stage, rank)
  int64_t shuffle_buffer = 1;  // slots (>= 1)
  int64_t skip = 0;            // examples already taken (resume)
  bool labels = true;          // decode targets
  int reader_threads = 2;
  int64_t chunk_records = 256;
  int64_t prefetch_chunks = 16;
};

class ExampleStream {
 public:
  // Starts the reader threads. InvalidArgument for a range outside its file
  // (past RecordIndex::records) or bad options; file errors come from Next().
  // `files` and `decoder` are copied.
  static StatusOr<std::unique_ptr<ExampleStream>> Open(const StreamFiles& files,
                                                       std::vector<RecordRange> ranges,
                                                       const ExampleDecoder& decoder,
                                                       const StreamOptions& options);
  virtual ~ExampleStream() = default;

  // Copies the next up to `rows` examples: features into `x` (rows x
  // feature_size), targets into `class_ids` (class ids) or `label_values`
  // (rows x label_width) as the decoder's label says (the other may be null;
  // both may be null without labels). Returns the rows copied: fewer than
  // `rows` only at the end of the stream.
  virtual StatusOr<int64_t> Next(int64_t rows, float* x, int32_t* class_ids,
                                 float* label_values) = 0;

  // Examples of the stream (the ranges' records) and delivered so far
  // (including `skip`).
  virtual int64_t size() const = 0;
  virtual int64_t delivered() const = 0;
};

}  // namespace shardtrain::data
