// Fuzzes the TFRecord reader, plain and compressed, and the tf.train.Example
// loader. The input is one TFRecord file:
//   * read record by record from memory (small buffer, so refills are
//     exercised), each record parsed as a tf.train.Example;
//   * read as if it were a GZIP and a ZLIB file (its bytes as the stream);
//   * compressed by our writer's DeflateStream (the first byte picks gzip or
//     zlib and where a sync flush splits the stream), written to disk and read
//     back through the compressed file reader: the records and the error code
//     must equal those of the plain read (traps otherwise);
//   * loaded from disk as the only shard of split "train".
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "proto/tf/example.pb.h"
#include "storage/tfrecord/compressed_stream.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/dataset.h"

namespace st = shardtrain::storage;

namespace {

constexpr int kMaxRecords = 10000;

struct ReadResult {
  std::vector<std::string> records;
  shardtrain::StatusCode code = shardtrain::StatusCode::kOk;
};

ReadResult ReadAll(st::TfRecordReader* reader, bool parse) {
  ReadResult result;
  std::string record;
  for (int i = 0; i < kMaxRecords; ++i) {
    auto next = reader->Next(&record);
    if (!next.ok()) {
      result.code = next.status().code();
      break;
    }
    if (!*next) break;
    if (parse) {
      shardtrain::tf::Example example;
      (void)example.ParseFromString(record);
    }
    result.records.push_back(record);
  }
  return result;
}

st::TfRecordReaderOptions SmallBuffer(st::TfRecordCompression compression) {
  st::TfRecordReaderOptions options;
  options.buffer_size = 64;
  options.compression = compression;
  return options;
}

// `input` compressed as one stream, with a sync flush after `split` bytes.
std::string Compress(const std::string& input, st::TfRecordCompression compression, size_t split) {
  std::string out;
  auto deflate = st::DeflateStream::Create(compression);
  if (!deflate.ok()) __builtin_trap();
  const std::string_view bytes(input);
  if (!(*deflate)->Compress(bytes.substr(0, split), st::DeflateStream::Flush::kSync, &out).ok() ||
      !(*deflate)->Compress(bytes.substr(split), st::DeflateStream::Flush::kFinish, &out).ok()) {
    __builtin_trap();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = shardtrain::fuzz::AsString(data, size);
  auto plain_reader = st::TfRecordReader::FromString(input, "fuzz.tfrecord",
                                                     SmallBuffer(st::TfRecordCompression::kNone));
  const ReadResult plain = ReadAll(plain_reader.get(), /*parse=*/true);

  for (auto compression : {st::TfRecordCompression::kGzip, st::TfRecordCompression::kZlib}) {
    auto reader = st::TfRecordReader::FromString(input, "fuzz.gz", SmallBuffer(compression));
    (void)ReadAll(reader.get(), /*parse=*/false);
  }

  if (plain.records.size() < kMaxRecords) {
    const auto compression =
        size > 0 && (data[0] & 1) ? st::TfRecordCompression::kZlib : st::TfRecordCompression::kGzip;
    const size_t split = size > 0 ? (data[0] >> 1) % (size + 1) : 0;
    const std::string path = shardtrain::fuzz::WriteScratchFile(
        "compressed.tfrecord", Compress(input, compression, split));
    auto reader = st::TfRecordReader::Open(path, SmallBuffer(compression));
    if (!reader.ok()) __builtin_trap();
    const ReadResult unpacked = ReadAll(reader->get(), /*parse=*/false);
    if (unpacked.records != plain.records || unpacked.code != plain.code) __builtin_trap();
  }

  shardtrain::fuzz::WriteScratchFile("train-00000-of-00001.tfrecord", input);
  (void)shardtrain::data::LoadSplit(shardtrain::fuzz::ScratchDir(), "train", 0, 10);
  return 0;
}
