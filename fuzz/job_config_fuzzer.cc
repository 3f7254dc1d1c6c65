// Fuzzes the job config text format: parsing, then validation (which fills
// defaults and checks every field; a config naming a model_json file is not
// validated, since that would read an arbitrary path).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "worker/job_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto config =
      shardtrain::ParseJobConfig(shardtrain::fuzz::AsString(data, size), "fuzz.textproto");
  if (!config.ok() || !config->model_json().empty()) return 0;
  (void)shardtrain::ValidateJobConfig(&*config);
  return 0;
}
