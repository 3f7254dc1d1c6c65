// Record index of a TFRecord file: how many records it holds and, for an
// uncompressed file, the byte offset of every `index_every`-th record, so a
// reader can start at record k by seeking to the indexed record at or before
// it and skipping the rest (TfRecordReader::Seek / Skip). The coordinator
// indexes the training files once per job to cut them into shards.
//
// Indexing reads every record's 12-byte header and checks its length CRC, but
// not the data or its CRC: an uncompressed file is read header by header
// (seeking over the data), a compressed one is decompressed and discarded.
// The file is read through options.buffer_size buffers (TfRecordReader::Skip):
// keep the 1 MiB default, as small buffers (or a read per header) cost a
// syscall per record. Errors as TfRecordReader's (DataLoss naming the file,
// record and offset for a bad length CRC or a file that ends inside a record;
// a compression mismatch hints at the setting). A bad data CRC is found when
// the record is read, not here. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/tfrecord/tfrecord.h"

namespace shardtrain::storage {

struct RecordIndex {
  int64_t records = 0;
  // offsets[i] is the byte offset of record i * index_every; empty for a
  // compressed file (index_every is then 0).
  int64_t index_every = 0;
  std::vector<int64_t> offsets;
};

// Indexes `path`; `index_every` >= 1 (InvalidArgument otherwise). `options`
// supply the compression, the damage hint and the setting named in messages.
StatusOr<RecordIndex> IndexTfRecordFile(const std::string& path, int64_t index_every,
                                        const TfRecordReaderOptions& options = {});

}  // namespace shardtrain::storage
