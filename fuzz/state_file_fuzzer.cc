// Fuzzes the `checkpoint` state file: parsing the text, and reading it and
// resolving the latest checkpoint through an in-memory file system.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "storage/checkpoint/state_file.h"
#include "storage/io/file_system.h"

namespace st = shardtrain::storage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = shardtrain::fuzz::AsString(data, size);
  auto state = st::ParseCheckpointState(text, "fuzz/checkpoint");
  if (state.ok()) (void)st::FormatCheckpointState(*state);
  st::MemoryFileSystem fs;
  if (!fs.CreateDirs("/run/ckpt").ok()) __builtin_trap();
  shardtrain::fuzz::PutMemoryFile(&fs, "/run/ckpt/checkpoint", text);
  (void)st::ReadCheckpointState(&fs, "/run/ckpt");
  (void)st::LatestCheckpoint(&fs, "/run/ckpt");
  return 0;
}
