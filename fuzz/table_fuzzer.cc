// Fuzzes TableReader (the .index table): any bytes must give a table or a
// Status, never a crash, over-allocation or hang.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "storage/io/table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto table =
      shardtrain::storage::TableReader::Open(shardtrain::fuzz::AsString(data, size), "fuzz.index");
  if (!table.ok()) return 0;
  for (const auto& [key, value] : (*table)->entries()) {
    if ((*table)->Find(key) == nullptr) __builtin_trap();  // every listed key is found
  }
  (*table)->Find("");
  return 0;
}
