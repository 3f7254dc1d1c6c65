// ExampleStream: reader threads decode chunks (example_stream_chunks.h) into
// an ordered window of at most prefetch_chunks chunks; the consumer takes
// their rows in chunk order into the shuffle buffer's slots and emits them as
// ShuffleOrder draws. Each thread reads its chunks of uncompressed files with
// its own reader; compressed files are read by one shared reader in chunk
// order and decoded in parallel. See example_stream.h.
#include "worker/data/example_stream.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <utility>

#include "storage/tfrecord/compression.h"
#include "worker/data/example_stream_chunks.h"

namespace shardtrain::data {
namespace {

Status CheckOptions(const StreamOptions& options) {
  auto positive = [](const char* name, int64_t value) -> Status {
    if (value >= 1) return OkStatus();
    return InvalidArgumentError(std::string("stream option ") + name + " must be >= 1, got " +
                                std::to_string(value));
  };
  RETURN_IF_ERROR(positive("shuffle_buffer", options.shuffle_buffer));
  RETURN_IF_ERROR(positive("reader_threads", options.reader_threads));
  RETURN_IF_ERROR(positive("chunk_records", options.chunk_records));
  return positive("prefetch_chunks", options.prefetch_chunks);
}

// Checks `ranges` against `files`; returns their record count.
StatusOr<int64_t> CheckRanges(const StreamFiles& files, const std::vector<RecordRange>& ranges) {
  if (!files.indexes.empty() && files.indexes.size() != files.paths.size()) {
    return InvalidArgumentError("the stream has " + std::to_string(files.paths.size()) +
                                " files but " + std::to_string(files.indexes.size()) +
                                " record indexes");
  }
  int64_t records = 0;
  for (const RecordRange& range : ranges) {
    const std::string text = "record range {file " + std::to_string(range.file) + ", first " +
                             std::to_string(range.first_record) + ", records " +
                             std::to_string(range.num_records) + "}";
    if (range.file < 0 || static_cast<size_t>(range.file) >= files.paths.size() ||
        range.first_record < 0 || range.num_records < 0) {
      return InvalidArgumentError(text + " is outside the stream's " +
                                  std::to_string(files.paths.size()) + " files");
    }
    if (!files.indexes.empty()) {
      const int64_t held = files.indexes[static_cast<size_t>(range.file)].records;
      if (range.first_record + range.num_records > held) {
        return InvalidArgumentError(text + " runs past the end of " +
                                    files.paths[static_cast<size_t>(range.file)] + " (" +
                                    std::to_string(held) + " records)");
      }
    }
    records += range.num_records;
  }
  return records;
}

storage::TfRecordReaderOptions ReaderOptions(const StreamFiles& files,
                                             storage::TfRecordCompression compression) {
  storage::TfRecordReaderOptions options;
  options.compression = compression;
  options.damage_hint = files.prepared_shards
                            ? "the file is damaged — re-create it with `shardtrain data prepare`"
                            : "the file is damaged; re-create it from its source";
  return options;
}

class ExampleStreamImpl final : public ExampleStream {
 public:
  ExampleStreamImpl(StreamFiles files, std::vector<RecordRange> ranges,
                    const ExampleDecoder& decoder, const StreamOptions& options,
                    storage::TfRecordCompression compression, int64_t size);
  ~ExampleStreamImpl() override;

  StatusOr<int64_t> Next(int64_t rows, float* x, int32_t* class_ids, float* label_values) override;
  int64_t size() const override { return size_; }
  int64_t delivered() const override { return delivered_; }

 private:
  // The reader threads' loop: take the next chunk of the plan inside the
  // window, decode it, publish it.
  void ReadChunks();
  // Makes the readers abandon their chunks and exit.
  void StopReaders();
  // Compressed files: waits for chunk `index`'s turn, reads its records with
  // the shared reader and passes the turn on; false when stopped.
  bool ReadInTurn(int64_t index, const StreamChunk& chunk, RawChunk* raw);
  // Fills the shuffle buffer's slots: on resume, with the records its
  // replayed slots hold (in position order).
  Status FillSlots();
  // Decodes the next input row (in chunk order) into slot `slot`.
  Status TakeRow(int64_t slot);
  // Waits for the next chunk of the window; releases the one consumed.
  Status AdvanceChunk();
  void CopySlot(int64_t from, int64_t to);
  void CopyOut(int64_t slot, int64_t row, float* x, int32_t* class_ids, float* label_values) const;

  const StreamFiles files_;
  const ExampleDecoder decoder_;
  const StreamOptions options_;
  const storage::TfRecordReaderOptions reader_options_;
  const int64_t size_;
  const int64_t feature_size_;
  const int64_t label_width_;
  const bool class_ids_;  // labels decoded as class ids

  // Consumer state (the calling thread only).
  ShuffleOrder order_;
  bool filled_ = false;
  int64_t delivered_ = 0;
  Status status_;  // sticky first error
  // Slot rows, left uninitialized: each is written before it is read.
  std::unique_ptr<float[]> slot_features_;
  std::vector<int32_t> slot_class_ids_;
  std::unique_ptr<float[]> slot_label_values_;
  std::unique_ptr<DecodedChunk> chunk_;  // the chunk rows are taken from
  int64_t chunk_row_ = 0;

  // Shared with the reader threads, under mutex_.
  std::mutex mutex_;
  std::condition_variable work_;   // a chunk may be taken (the window moved), or stop
  std::condition_variable ready_;  // a chunk was published
  std::unique_ptr<ChunkPlan> plan_;
  bool plan_done_ = false;
  int64_t next_chunk_ = 0;      // index of the next chunk to take
  int64_t consumer_chunk_ = 0;  // index of the chunk the consumer waits for or reads
  std::map<int64_t, std::unique_ptr<DecodedChunk>> published_;
  std::vector<std::unique_ptr<DecodedChunk>> free_chunks_;  // buffers to reuse
  std::atomic<bool> stop_{false};
  // Compressed files are read by one reader, a chunk at a time in chunk
  // order (the turn), and decoded by the thread that took the chunk.
  const bool read_in_turn_;
  std::condition_variable turn_;  // read_turn_ moved, or stop
  int64_t read_turn_ = 0;         // the chunk whose records are read next
  ChunkReader shared_reader_;     // used by the turn's holder only
  std::vector<std::thread> threads_;
};

ExampleStreamImpl::ExampleStreamImpl(StreamFiles files, std::vector<RecordRange> ranges,
                                     const ExampleDecoder& decoder, const StreamOptions& options,
                                     storage::TfRecordCompression compression, int64_t size)
    : files_(std::move(files)),
      decoder_(decoder),
      options_(options),
      reader_options_(ReaderOptions(files_, compression)),
      size_(size),
      feature_size_(decoder.feature_size()),
      label_width_(options.labels ? decoder.label_width() : 0),
      class_ids_(options.labels && decoder.label_width() == 0),
      order_(options.seed, options.shuffle_key, options.shuffle_buffer, size),
      read_in_turn_(compression != storage::TfRecordCompression::kNone),
      shared_reader_(files_, reader_options_, decoder_, options.labels, stop_) {
  for (int64_t i = 0; i < options.skip; ++i) order_.Next();
  delivered_ = options.skip;
  // The slots' records: those below next_input() that do not form the
  // contiguous run ending there are read first, then next_input() on.
  std::vector<int64_t> held = order_.slots();
  std::sort(held.begin(), held.end());
  int64_t start = order_.next_input();
  while (!held.empty() && held.back() == start - 1) {
    held.pop_back();
    --start;
  }
  plan_ = std::make_unique<ChunkPlan>(std::move(ranges), held, start, options.chunk_records);
  const auto slots = static_cast<size_t>(order_.filled());
  slot_features_ =
      std::make_unique_for_overwrite<float[]>(slots * static_cast<size_t>(feature_size_));
  if (class_ids_) slot_class_ids_.resize(slots);
  slot_label_values_ =
      std::make_unique_for_overwrite<float[]>(slots * static_cast<size_t>(label_width_));
  for (int i = 0; i < options.reader_threads; ++i) threads_.emplace_back([this] { ReadChunks(); });
}

ExampleStreamImpl::~ExampleStreamImpl() {
  StopReaders();
  for (std::thread& thread : threads_) thread.join();
}

void ExampleStreamImpl::StopReaders() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  work_.notify_all();
  turn_.notify_all();
}

bool ExampleStreamImpl::ReadInTurn(int64_t index, const StreamChunk& chunk, RawChunk* raw) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    turn_.wait(lock, [&] { return stop_.load() || read_turn_ == index; });
    if (stop_.load()) return false;
  }
  shared_reader_.ReadRaw(chunk, raw);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++read_turn_;
  }
  turn_.notify_all();
  return true;
}

void ExampleStreamImpl::ReadChunks() {
  ChunkReader reader(files_, reader_options_, decoder_, options_.labels, stop_);
  RawChunk raw;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_.wait(lock, [this] {
      return stop_.load() || plan_done_ || next_chunk_ < consumer_chunk_ + options_.prefetch_chunks;
    });
    if (stop_.load() || plan_done_) return;
    StreamChunk chunk;
    if (!plan_->Next(&chunk)) {
      plan_done_ = true;
      ready_.notify_all();
      work_.notify_all();  // idle readers exit too
      return;
    }
    const int64_t index = next_chunk_++;
    std::unique_ptr<DecodedChunk> out;
    if (free_chunks_.empty()) {
      out = std::make_unique<DecodedChunk>();
    } else {
      out = std::move(free_chunks_.back());
      free_chunks_.pop_back();
    }
    lock.unlock();
    if (!read_in_turn_) {
      reader.Read(chunk, out.get());
    } else if (ReadInTurn(index, chunk, &raw)) {
      reader.Decode(chunk, raw, out.get());
    } else {
      return;  // stopped
    }
    lock.lock();
    published_[index] = std::move(out);
    ready_.notify_all();
  }
}

Status ExampleStreamImpl::AdvanceChunk() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (chunk_ != nullptr) {
    free_chunks_.push_back(std::move(chunk_));
    ++consumer_chunk_;
    work_.notify_all();
  }
  ready_.wait(lock, [this] {
    return published_.count(consumer_chunk_) > 0 || (plan_done_ && next_chunk_ <= consumer_chunk_);
  });
  auto found = published_.find(consumer_chunk_);
  if (found == published_.end()) {
    return InternalError("the example stream ran out of chunks before its " +
                         std::to_string(size_) + " examples");
  }
  chunk_ = std::move(found->second);
  published_.erase(found);
  chunk_row_ = 0;
  return OkStatus();
}

Status ExampleStreamImpl::TakeRow(int64_t slot) {
  while (chunk_ == nullptr || chunk_row_ == chunk_->rows) {
    if (chunk_ != nullptr && !chunk_->error.ok()) return chunk_->error;
    RETURN_IF_ERROR(AdvanceChunk());
  }
  const auto row = static_cast<size_t>(chunk_row_++);
  const auto to = static_cast<size_t>(slot);
  const auto features = static_cast<size_t>(feature_size_);
  std::memcpy(slot_features_.get() + to * features, chunk_->features.data() + row * features,
              features * sizeof(float));
  if (class_ids_) slot_class_ids_[to] = chunk_->class_ids[row];
  const auto width = static_cast<size_t>(label_width_);
  if (width > 0) {
    std::memcpy(slot_label_values_.get() + to * width, chunk_->label_values.data() + row * width,
                width * sizeof(float));
  }
  return OkStatus();
}

Status ExampleStreamImpl::FillSlots() {
  std::vector<int64_t> slots(static_cast<size_t>(order_.filled()));
  std::iota(slots.begin(), slots.end(), int64_t{0});
  const std::vector<int64_t>& positions = order_.slots();
  std::sort(slots.begin(), slots.end(), [&positions](int64_t a, int64_t b) {
    return positions[static_cast<size_t>(a)] < positions[static_cast<size_t>(b)];
  });
  for (const int64_t slot : slots) RETURN_IF_ERROR(TakeRow(slot));
  return OkStatus();
}

void ExampleStreamImpl::CopySlot(int64_t from, int64_t to) {
  const auto features = static_cast<size_t>(feature_size_);
  std::memcpy(slot_features_.get() + static_cast<size_t>(to) * features,
              slot_features_.get() + static_cast<size_t>(from) * features,
              features * sizeof(float));
  if (class_ids_)
    slot_class_ids_[static_cast<size_t>(to)] = slot_class_ids_[static_cast<size_t>(from)];
  const auto width = static_cast<size_t>(label_width_);
  if (width > 0) {
    std::memcpy(slot_label_values_.get() + static_cast<size_t>(to) * width,
                slot_label_values_.get() + static_cast<size_t>(from) * width,
                width * sizeof(float));
  }
}

void ExampleStreamImpl::CopyOut(int64_t slot, int64_t row, float* x, int32_t* class_ids,
                                float* label_values) const {
  const auto s = static_cast<size_t>(slot);
  const auto r = static_cast<size_t>(row);
  const auto features = static_cast<size_t>(feature_size_);
  std::memcpy(x + r * features, slot_features_.get() + s * features, features * sizeof(float));
  if (class_ids_ && class_ids != nullptr) class_ids[r] = slot_class_ids_[s];
  const auto width = static_cast<size_t>(label_width_);
  if (width > 0 && label_values != nullptr) {
    std::memcpy(label_values + r * width, slot_label_values_.get() + s * width,
                width * sizeof(float));
  }
}

StatusOr<int64_t> ExampleStreamImpl::Next(int64_t rows, float* x, int32_t* class_ids,
                                          float* label_values) {
  if (!status_.ok()) return status_;
  auto fail = [this](Status status) -> StatusOr<int64_t> {
    status_ = std::move(status);
    StopReaders();  // nothing more will be read
    return status_;
  };
  if (!filled_) {
    filled_ = true;
    Status filled = FillSlots();
    if (!filled.ok()) return fail(std::move(filled));
  }
  int64_t copied = 0;
  while (copied < rows) {
    const ShuffleOrder::Draw draw = order_.Next();
    if (draw.slot < 0) break;
    CopyOut(draw.slot, copied, x, class_ids, label_values);
    ++copied;
    if (draw.refill >= 0) {
      Status taken = TakeRow(draw.slot);
      if (!taken.ok()) return fail(std::move(taken));
    } else if (draw.moved_from != draw.slot) {
      CopySlot(draw.moved_from, draw.slot);
    }
  }
  delivered_ += copied;
  return copied;
}

}  // namespace

StatusOr<std::unique_ptr<ExampleStream>> ExampleStream::Open(const StreamFiles& files,
                                                             std::vector<RecordRange> ranges,
                                                             const ExampleDecoder& decoder,
                                                             const StreamOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  ASSIGN_OR_RETURN(const int64_t size, CheckRanges(files, ranges));
  if (options.skip < 0 || options.skip > size) {
    return InvalidArgumentError("cannot skip " + std::to_string(options.skip) +
                                " examples of a stream of " + std::to_string(size));
  }
  ASSIGN_OR_RETURN(const storage::TfRecordCompression compression,
                   storage::TfRecordCompressionFromConfig(files.compression));
  return std::unique_ptr<ExampleStream>(
      new ExampleStreamImpl(files, std::move(ranges), decoder, options, compression, size));
}

}  // namespace shardtrain::data
