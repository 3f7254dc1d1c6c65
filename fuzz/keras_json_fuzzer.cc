// Fuzzes the Keras model JSON reader (config.json, model_config, to_json()).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "worker/model/keras_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)shardtrain::model::ModelConfigFromKerasJson(shardtrain::fuzz::AsString(data, size),
                                                    "fuzz.json");
  return 0;
}
