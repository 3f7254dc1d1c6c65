// TFRecord files: a writer and a CRC-checking reader (layout in tfrecord_format.h),
// uncompressed or, as TensorFlow's TFRecordOptions, GZIP or ZLIB compressed
// (compression.h: the whole file is one compressed stream of TFRecord framing).
//
// TfRecordWriter buffers records and hands them to the OS in large writes;
// Close() flushes, fsyncs and closes, and only a successful Close() means the
// file is complete and durable. TfRecordReader checks the length CRC and the
// data CRC of every record; a mismatch is DataLoss naming the file, the record
// index (0-based) and its byte offset, and a file that ends inside a record is
// DataLoss saying the file is truncated. Compressed files are decompressed as
// they are read, in bounded buffers; a file that is not a stream of the
// configured kind, a corrupt or truncated stream, or data after the stream's
// end is DataLoss naming the file (and the record, where one is being read),
// and an uncompressed read of a file that looks compressed hints at the
// setting. TfRecordReader::Open reads only regular files: a FIFO, directory or
// device is InvalidArgument, without blocking. An uncompressed reader can Seek
// to a record's offset, and any reader can Skip records (checking only their
// headers). After an error the reader keeps returning that error. Neither
// class is thread-safe; distinct objects may be used from distinct threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/tfrecord/compression.h"

namespace shardtrain::storage {

class DeflateStream;
class InflateStream;

// Appends `data` framed as one TFRecord (length, masked length CRC, data,
// masked data CRC) to `*out`.
void AppendTfRecord(std::string_view data, std::string* out);

class TfRecordWriter {
 public:
  // Creates (or truncates) `path` for writing. kNone writes plain TFRecords;
  // kGzip / kZlib write one gzip / zlib stream, as TensorFlow's writer does.
  static StatusOr<std::unique_ptr<TfRecordWriter>> Open(
      const std::string& path, TfRecordCompression compression = TfRecordCompression::kNone);

  TfRecordWriter(const TfRecordWriter&) = delete;
  TfRecordWriter& operator=(const TfRecordWriter&) = delete;
  // Flushes what is buffered (best effort, no fsync; a compressed stream is
  // ended) and closes the file if Close() was not called. Errors are only
  // logged: call Close().
  ~TfRecordWriter();

  // Appends one record. After a failed write or after Close() every call fails.
  Status Write(std::string_view record);
  // Hands buffered records to the OS (readers of the file see them), no fsync.
  // A compressed stream is flushed (Z_SYNC_FLUSH) so they can be decompressed.
  Status Flush();
  // Flush, fsync and close. Calling it again returns the first call's result.
  Status Close();

  const std::string& path() const { return path_; }
  int64_t records_written() const { return records_written_; }
  // TFRecord bytes accepted so far (buffered or written), i.e. the file size
  // after Flush when uncompressed; the uncompressed size otherwise.
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  TfRecordWriter(int fd, std::string path, std::unique_ptr<DeflateStream> deflate);
  enum class Mode { kNone, kSync, kFinish };
  // Writes buffer_ to the file (compressed when deflate_ is set, flushing the
  // stream as `mode` says) and empties it.
  Status WriteBuffer(Mode mode);

  int fd_;
  std::string path_;
  std::unique_ptr<DeflateStream> deflate_;  // null: uncompressed
  std::string buffer_;                      // framed records not yet written
  std::string compressed_;                  // deflate_'s output for one WriteBuffer
  Status status_;                           // sticky first error
  bool closed_ = false;
  int64_t records_written_ = 0;
  uint64_t bytes_written_ = 0;
};

struct TfRecordReaderOptions {
  // Bytes read from the file per read() call (the buffer grows for larger
  // records). Files smaller than this are read in one go. Compressed files use
  // a buffer of this size for the compressed and one for the decompressed bytes.
  size_t buffer_size = size_t{1} << 20;
  // Appended to corruption and truncation messages: what the user should do.
  std::string damage_hint = "the file is damaged; re-create it from its source";
  // How the file is compressed (compression.h).
  TfRecordCompression compression = TfRecordCompression::kNone;
  // The setting users change to pick the compression, named in the hint when a
  // file is not compressed as configured ("set data.compression: GZIP").
  std::string compression_setting = "data.compression";
  // Largest record data length accepted (DataLoss beyond it): a compressed
  // stream's size is unknown, so without it one damaged or hostile length (a
  // gzip bomb) would grow the buffer without limit. Example decoding rejects
  // more than INT32_MAX bytes anyway.
  uint64_t max_record_bytes = uint64_t{INT32_MAX};
};

class TfRecordReader {
 public:
  // Opens `path` for streaming reads: InvalidArgument (at once) unless it is a
  // regular file.
  static StatusOr<std::unique_ptr<TfRecordReader>> Open(const std::string& path,
                                                        TfRecordReaderOptions options = {});
  // Reads records from `contents` (a whole file's bytes, compressed as
  // options.compression says); `name` is used in messages.
  static std::unique_ptr<TfRecordReader> FromString(std::string contents, std::string name,
                                                    TfRecordReaderOptions options = {});

  TfRecordReader(const TfRecordReader&) = delete;
  TfRecordReader& operator=(const TfRecordReader&) = delete;
  ~TfRecordReader();

  // Reads the next record into `*record`: true when one was read, false at a
  // clean end of file, DataLoss on corruption or truncation, or an I/O error.
  StatusOr<bool> Next(std::string* record);
  // Same, without a copy: `*record` points into the reader's buffer and stays
  // valid until the next call.
  StatusOr<bool> NextView(std::string_view* record);

  // Passes over the next record without returning it: true when one was
  // skipped, false at a clean end of file. Checks the header (length CRC, and
  // that the record fits in the file) as Next does, but not the data CRC. In an
  // uncompressed file data beyond the read buffer is seeked over, not read; a
  // compressed file's record is decompressed and dropped.
  StatusOr<bool> Skip();
  // Uncompressed files only: the next record read is the one starting at byte
  // `offset` (an offset() or RecordIndex offset), numbered `record_index` in
  // messages and records_read(). An offset that does not start a record makes
  // the next read DataLoss (length CRC mismatch). FailedPrecondition for a
  // compressed file; InvalidArgument for an offset past the end of the file or a
  // negative index; the reader's sticky error if it has one.
  Status Seek(uint64_t offset, int64_t record_index);

  const std::string& path() const { return path_; }
  // Index of the next record: records read or skipped so far, counted from the
  // last Seek's record_index.
  int64_t records_read() const { return records_read_; }
  // Byte offset of the next record in the file (in the decompressed stream
  // when the file is compressed).
  uint64_t offset() const { return offset_; }

 private:
  TfRecordReader(int fd, std::string path, TfRecordReaderOptions options);
  // Makes at least `need` unconsumed bytes available unless the file ends
  // first; returns how many are available. The buffer grows only as bytes
  // arrive, so a damaged length cannot allocate more than the file holds.
  StatusOr<size_t> Fill(size_t need);
  // Moves unconsumed bytes to the front of buffer_, growing it (towards
  // `need`) when they fill it.
  void MakeRoom(size_t need);
  // Reads the next bytes of the (decompressed) file into `out`; 0 at its end.
  StatusOr<size_t> ReadSome(char* out, size_t n);
  // Reads and checks the next record's header, leaving it unconsumed: the
  // record's data length, or nullopt at a clean end of file.
  StatusOr<std::optional<uint64_t>> ReadHeader();
  // Consumes the next `n` bytes of the current record (offset_ does not move):
  // buffered bytes are dropped, the rest seeked over (uncompressed file) or
  // decompressed and dropped.
  Status Discard(uint64_t n);
  // The error for a damaged compressed stream (inflate_->damage() says how).
  Status StreamError(const Status& status) const;
  // The error for a length CRC mismatch of the first record, hinting at the
  // compression setting when the file looks compressed.
  Status FirstHeaderError(std::string_view header, std::string_view what) const;
  Status Corrupted(std::string_view what) const;
  Status Truncated(std::string_view what) const;

  int fd_;  // -1 when reading from memory
  std::string path_;
  TfRecordReaderOptions options_;
  std::unique_ptr<InflateStream> inflate_;  // null: uncompressed
  std::string buffer_;                      // bytes [begin_, end_) are read but not consumed
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  int64_t file_size_ = -1;  // -1 when unknown (a compressed file)
  uint64_t offset_ = 0;     // file offset of buffer_[begin_]
  int64_t records_read_ = 0;
  Status status_;  // sticky first error
};

// Reads every record of the TFRecord file at `path`.
StatusOr<std::vector<std::string>> ReadTfRecordFile(const std::string& path,
                                                    TfRecordReaderOptions options = {});

}  // namespace shardtrain::storage
