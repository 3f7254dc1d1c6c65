// TF Serving's Classify and Regress REST APIs (g3doc/api_rest.md, "Classify
// and Regress API"; shared/spec/tf-formats.md §5.3): the body's "examples"
// (and optional "context", whose features every example gets unless it has
// its own) become serialized tf.Example protos fed to the signature's
// "inputs" (DT_STRING); the answer is {"results": ...}: per example a list of
// [label, score] pairs (classify: "classes" and/or "scores" outputs; the
// label is "" without classes) or one value (regress: "outputs", [N] or
// [N, 1]). Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "serving/json_value.h"
#include "serving/loaded_model.h"

namespace shardtrain::serving {

// The body's examples, serialized. Feature values: numbers with a decimal
// point or exponent → float_list, whole numbers and true/false → int64_list,
// strings and {"b64": ...} → bytes_list; a list holds one kind.
// InvalidArgument for a missing or empty "examples", or a feature value that
// is none of these (naming the example and the feature).
StatusOr<std::vector<std::string>> SerializedExamplesFromJson(const JsonValue& body);

// Runs the classify (`classify` true) or regress signature `key` of `model`
// on `body` and returns the response JSON. InvalidArgument when the signature
// lacks the "inputs" input or the outputs the API needs, or the examples do
// not parse; errors of the run as they come.
StatusOr<std::string> ClassifyOrRegress(const LoadedModel& model, const std::string& key,
                                        bool classify, const JsonValue& body);

}  // namespace shardtrain::serving
