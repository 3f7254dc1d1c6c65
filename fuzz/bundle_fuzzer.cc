// Fuzzes BundleReader over an in-memory file system: opens the bundle and reads
// every tensor (bytes and strings), so the index, entry checks and CRC checks
// all see the input. Input layout: index ‖ data ‖ fixed32 LE
// index size; without a valid trailer the whole input is the index.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/fuzz_util.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace st = shardtrain::storage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input = shardtrain::fuzz::AsString(data, size);
  std::string index = input, shard;
  if (size >= 4) {
    uint32_t index_size = 0;
    std::memcpy(&index_size, data + size - 4, 4);
    if (index_size <= size - 4) {
      index = input.substr(0, index_size);
      shard = input.substr(index_size, size - 4 - index_size);
    }
  }
  st::MemoryFileSystem fs;
  if (!fs.CreateDirs("/ckpt").ok()) __builtin_trap();
  shardtrain::fuzz::PutMemoryFile(&fs, "/ckpt/model.index", index);
  shardtrain::fuzz::PutMemoryFile(&fs, "/ckpt/model.data-00000-of-00001", shard);
  auto reader = st::BundleReader::Open(&fs, "/ckpt/model");
  if (!reader.ok()) return 0;
  for (const std::string& key : (*reader)->Keys()) {
    (void)(*reader)->Entry(key);
    (void)(*reader)->CheckInFile(key);
    (void)(*reader)->ReadBytes(key);
    (void)(*reader)->ReadStrings(key);
  }
  return 0;
}
