// Fuzzes the Keras file reader: the input is written to a file and read as a
// .keras archive (zip + JSON) or an HDF5 file (legacy .h5 or .weights.h5),
// which ReadKerasFile tells apart by content. In process (not in a trial child
// as ReadKerasFile does), so that every crash, ours or libhdf5's, is found.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "storage/keras/keras_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      shardtrain::fuzz::WriteScratchFile("model.keras", shardtrain::fuzz::AsString(data, size));
  (void)shardtrain::storage::keras::ReadKerasFileInProcess(path);
  return 0;
}
