// Fuzzes the idx readers (plain or gzip): the input is written to a file and
// read both as an images file and as a labels file.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "worker/data/idx_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      shardtrain::fuzz::WriteScratchFile("input-idx", shardtrain::fuzz::AsString(data, size));
  (void)shardtrain::data::ReadIdxImages(path);
  (void)shardtrain::data::ReadIdxLabels(path);
  return 0;
}
