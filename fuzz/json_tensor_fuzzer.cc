// Fuzzes TF Serving REST predict bodies: JSON parsing, the signature name and
// the conversion to tensors against a signature with a float, an int64 and a
// string input (the dtypes the REST API converts).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "serving/json_tensor.h"

namespace sv = shardtrain::serving;
namespace tf = shardtrain::tf;

namespace {

tf::SignatureDef MakeSignature(bool single_input) {
  tf::SignatureDef signature;
  auto add = [&](const char* name, tf::DataType dtype) {
    tf::TensorInfo& info = (*signature.mutable_inputs())[name];
    info.set_name(std::string(name) + ":0");
    info.set_dtype(dtype);
  };
  add("x", tf::DT_FLOAT);
  if (!single_input) {
    add("ids", tf::DT_INT64);
    add("text", tf::DT_STRING);
  }
  return signature;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tf::SignatureDef single = MakeSignature(true);
  static const tf::SignatureDef multi = MakeSignature(false);
  auto body = sv::ParsePredictBody(shardtrain::fuzz::AsString(data, size));
  if (!body.ok()) return 0;
  (void)sv::SignatureNameOf(*body);
  for (const tf::SignatureDef* signature : {&single, &multi}) {
    auto request = sv::PredictRequestFromJson(*body, *signature);
    if (request.ok()) (void)sv::FormatPredictResponse(request->inputs, request->row_format);
  }
  return 0;
}
