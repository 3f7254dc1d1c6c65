// Fuzzes the TFRecord reader and the tf.train.Example loader: the input is one
// TFRecord file, read record by record from memory (small buffer, so refills
// are exercised), then loaded from disk as the only shard of split "train".
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/dataset.h"

namespace st = shardtrain::storage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = shardtrain::fuzz::AsString(data, size);
  st::TfRecordReaderOptions options;
  options.buffer_size = 64;
  auto reader = st::TfRecordReader::FromString(input, "fuzz.tfrecord", options);
  std::string record;
  for (int i = 0; i < 10000; ++i) {
    auto next = reader->Next(&record);
    if (!next.ok() || !*next) break;
    shardtrain::tf::Example example;
    (void)example.ParseFromString(record);
  }
  shardtrain::fuzz::WriteScratchFile("train-00000-of-00001.tfrecord", input);
  (void)shardtrain::data::LoadSplit(shardtrain::fuzz::ScratchDir(), "train", 0, 10);
  return 0;
}
