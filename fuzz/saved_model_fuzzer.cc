// Fuzzes SavedModel loading: the input is saved_model.pb (the MetaGraphDef,
// its graph, signatures and saver_def) in an export directory; the variables
// are whatever $SHARDTRAIN_FUZZ_VARIABLES names (a variables/ folder to link
// in, e.g. a half_plus_two model's) or absent.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_util.h"
#include "serving/loaded_model.h"

namespace {

const std::string& ExportDir() {
  static const std::string dir = [] {
    std::string export_dir = shardtrain::fuzz::ScratchDir() + "/export";
    if (::mkdir(export_dir.c_str(), 0755) != 0) std::abort();
    if (const char* variables = std::getenv("SHARDTRAIN_FUZZ_VARIABLES")) {
      if (::symlink(variables, (export_dir + "/variables").c_str()) != 0) std::abort();
    }
    return export_dir;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& export_dir = ExportDir();
  shardtrain::fuzz::WriteScratchFile("export/saved_model.pb",
                                     shardtrain::fuzz::AsString(data, size));
  (void)shardtrain::serving::LoadedModel::Load(export_dir);
  return 0;
}
