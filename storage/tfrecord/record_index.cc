// IndexTfRecordFile (contract in record_index.h): TfRecordReader::Skip over
// every record, noting the offset of each index_every-th one.
#include "storage/tfrecord/record_index.h"

#include <memory>
#include <utility>

namespace shardtrain::storage {

StatusOr<RecordIndex> IndexTfRecordFile(const std::string& path, int64_t index_every,
                                        const TfRecordReaderOptions& options) {
  if (index_every < 1) {
    return InvalidArgumentError("cannot index '" + path + "' every " + std::to_string(index_every) +
                                " records: it must be at least 1");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TfRecordReader> reader, TfRecordReader::Open(path, options));
  const bool seekable = options.compression == TfRecordCompression::kNone;
  RecordIndex index;
  index.index_every = seekable ? index_every : 0;
  while (true) {
    const uint64_t offset = reader->offset();
    ASSIGN_OR_RETURN(const bool more, reader->Skip());
    if (!more) break;
    if (seekable && index.records % index_every == 0) {
      index.offsets.push_back(static_cast<int64_t>(offset));
    }
    ++index.records;
  }
  return index;
}

}  // namespace shardtrain::storage
