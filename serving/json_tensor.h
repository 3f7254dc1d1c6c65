// TF Serving's JSON mapping of tensors (shared/spec/tf-formats.md §5.2):
// request bodies in row ("instances") or columnar ("inputs") form become
// named input tensors of a signature, and output tensors become the
// "predictions" / "outputs" response. Floats accept and produce the bare
// tokens NaN, Infinity and -Infinity; strings may be {"b64": "..."}; outputs
// whose key ends in "_bytes" are written as {"b64": ...}.
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "proto/tf/saved_model.pb.h"
#include "serving/json_value.h"
#include "serving/tensor.h"

namespace shardtrain::serving {

struct PredictRequest {
  std::string signature_name;  // "" → serving_default
  bool row_format = true;      // "instances" (true) or "inputs"
  std::map<std::string, Tensor> inputs;
};

// Parses a predict body (a JSON object; InvalidArgument otherwise).
StatusOr<JsonValue> ParsePredictBody(const std::string& body);

// The body's signature_name ("" when absent).
StatusOr<std::string> SignatureNameOf(const JsonValue& body);

// The request against `signature`'s inputs (their dtypes decide the
// conversion). InvalidArgument naming the problem: both or neither of
// instances/inputs, an empty "instances", an unknown or missing input, a
// ragged list, a value of the wrong type for the input's dtype.
StatusOr<PredictRequest> PredictRequestFromJson(const JsonValue& body,
                                                const tf::SignatureDef& signature);

// The error to answer when running `signature` on `inputs` failed with
// `run_error`: for an InvalidArgument and an input whose shape differs from
// the signature's, InvalidArgument naming that input, its expected shape and
// the received one (the graph's message follows in parentheses); otherwise
// `run_error`. Shapes are not checked before the run, because TF feeds a
// placeholder whatever it gets (half_plus_two's [-1, 1] input takes [3]).
Status ExplainRunError(const Status& run_error, const std::map<std::string, Tensor>& inputs,
                       const tf::SignatureDef& signature);

// {"predictions": ...} (row format) or {"outputs": ...} (columnar).
StatusOr<std::string> FormatPredictResponse(const std::map<std::string, Tensor>& outputs,
                                            bool row_format);

// {"inputs": {...}, "outputs": {...}, "method_name": ..., "defaults": {}} as
// TF Serving's metadata endpoint writes a SignatureDef (DT_ names, sizes as strings).
std::string SignatureDefJson(const tf::SignatureDef& signature);

// The bytes of a {"b64": ...} value's text (InvalidArgument for bad base64).
StatusOr<std::string> Base64Decode(const std::string& text);

// Whether `v` is {"b64": ...}, TF Serving's form for binary strings.
bool IsB64(const JsonValue& v);

// JSON string literal of `text`, quoted and escaped.
std::string JsonQuote(const std::string& text);

}  // namespace shardtrain::serving
