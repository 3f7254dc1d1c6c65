#include "serving/classify_regress.h"

#include <charconv>

#include "proto/tf/example.pb.h"
#include "serving/json_tensor.h"

namespace shardtrain::serving {
namespace {

Status KindClash(const std::string& where) {
  return InvalidArgumentError(where +
                              ": a feature's values must all be numbers with a decimal "
                              "point (float), whole numbers (int64) or strings (bytes)");
}

// Appends one scalar JSON value to `feature` (its list kind set by the first).
Status AppendScalar(const JsonValue& v, const std::string& where, tf::Feature* feature) {
  using Kind = JsonValue::Kind;
  if (IsB64(v) && v.members[0].value.kind != Kind::kString) {
    return InvalidArgumentError(where + ": {\"b64\": ...} needs a base64 string");
  }
  if (v.kind == Kind::kString || IsB64(v)) {
    if (feature->kind_case() != tf::Feature::KIND_NOT_SET && !feature->has_bytes_list()) {
      return KindClash(where);
    }
    std::string bytes = v.text;
    if (IsB64(v)) {
      ASSIGN_OR_RETURN(bytes, Base64Decode(v.members[0].value.text));
    }
    feature->mutable_bytes_list()->add_value(std::move(bytes));
  } else if ((v.kind == Kind::kNumber && v.is_integer) || v.kind == Kind::kBool) {
    if (feature->kind_case() != tf::Feature::KIND_NOT_SET && !feature->has_int64_list()) {
      return KindClash(where);
    }
    feature->mutable_int64_list()->add_value(v.kind == Kind::kBool ? v.boolean : v.integer);
  } else if (v.kind == Kind::kNumber) {
    if (feature->kind_case() != tf::Feature::KIND_NOT_SET && !feature->has_float_list()) {
      return KindClash(where);
    }
    feature->mutable_float_list()->add_value(static_cast<float>(v.number));
  } else {
    return InvalidArgumentError(where +
                                ": expected a number, a string, {\"b64\": ...} or a list "
                                "of them, got " +
                                v.Brief());
  }
  return OkStatus();
}

// One feature from a JSON value or list of values.
StatusOr<tf::Feature> FeatureFromJson(const JsonValue& v, const std::string& where) {
  tf::Feature feature;
  if (!v.is_array()) {
    RETURN_IF_ERROR(AppendScalar(v, where, &feature));
    return feature;
  }
  if (!v.numbers.empty()) {
    for (double number : v.numbers) {
      if (v.numbers_are_integers) {
        feature.mutable_int64_list()->add_value(static_cast<int64_t>(number));
      } else {
        feature.mutable_float_list()->add_value(static_cast<float>(number));
      }
    }
    return feature;
  }
  for (const JsonValue& item : v.items) RETURN_IF_ERROR(AppendScalar(item, where, &feature));
  return feature;
}

Status AddFeatures(const JsonValue& object, const std::string& where, tf::Features* out) {
  if (!object.is_object() || IsB64(object)) {
    return InvalidArgumentError(where + " must be an object of features, got " + object.Brief());
  }
  for (const auto& [name, value] : object.members) {
    ASSIGN_OR_RETURN((*out->mutable_feature())[name],
                     FeatureFromJson(value, where + ", feature '" + name + "'"));
  }
  return OkStatus();
}

std::string FloatText(float value) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// The single output tensor `name` of a run, checked to hold `rows` rows.
StatusOr<const Tensor*> Output(const std::map<std::string, Tensor>& outputs,
                               const std::string& name, DType dtype, size_t rows) {
  auto found = outputs.find(name);
  if (found == outputs.end()) return nullptr;
  const Tensor& t = found->second;
  if (t.dtype != dtype || t.shape.empty() || t.shape[0] != static_cast<int64_t>(rows) ||
      t.shape.size() > 2) {
    return InvalidArgumentError("output '" + name + "' must be " + std::string(DTypeName(dtype)) +
                                " of shape [" + std::to_string(rows) + "] or [" +
                                std::to_string(rows) + ", K], got " + t.ShapeString());
  }
  return &t;
}

StatusOr<std::string> RegressResults(const std::map<std::string, Tensor>& outputs, size_t rows) {
  ASSIGN_OR_RETURN(const Tensor* values, Output(outputs, "outputs", DType::kFloat32, rows));
  if (values == nullptr || values->num_elements() != static_cast<int64_t>(rows)) {
    return InvalidArgumentError(
        "a regression signature needs one float output 'outputs' "
        "with one value per example");
  }
  std::string out;
  for (size_t r = 0; r < rows; ++r) out += (r ? ", " : "") + FloatText(values->f[r]);
  return "{\"results\": [" + out + "]}";
}

StatusOr<std::string> ClassifyResults(const std::map<std::string, Tensor>& outputs, size_t rows) {
  ASSIGN_OR_RETURN(const Tensor* classes, Output(outputs, "classes", DType::kString, rows));
  ASSIGN_OR_RETURN(const Tensor* scores, Output(outputs, "scores", DType::kFloat32, rows));
  if (classes == nullptr && scores == nullptr) {
    return InvalidArgumentError(
        "a classification signature needs an output 'classes' or "
        "'scores'");
  }
  const Tensor* shaped = scores != nullptr ? scores : classes;
  const int64_t per_row = rows == 0 ? 0 : shaped->num_elements() / static_cast<int64_t>(rows);
  if (classes != nullptr && scores != nullptr &&
      classes->num_elements() != scores->num_elements()) {
    return InvalidArgumentError("outputs 'classes' " + classes->ShapeString() + " and 'scores' " +
                                scores->ShapeString() + " differ in shape");
  }
  std::string out;
  for (size_t r = 0; r < rows; ++r) {
    std::string row;
    for (int64_t k = 0; k < per_row; ++k) {
      const size_t at = r * static_cast<size_t>(per_row) + static_cast<size_t>(k);
      const std::string label = classes != nullptr ? classes->s[at] : "";
      const std::string score = scores != nullptr ? FloatText(scores->f[at]) : "0";
      row += std::string(k ? ", " : "") + "[" + JsonQuote(label) + ", " + score + "]";
    }
    out += std::string(r ? ", " : "") + "[" + row + "]";
  }
  return "{\"results\": [" + out + "]}";
}

}  // namespace

StatusOr<std::vector<std::string>> SerializedExamplesFromJson(const JsonValue& body) {
  const JsonValue* examples = body.Find("examples");
  if (examples == nullptr || !examples->is_array() || examples->size() == 0) {
    return InvalidArgumentError(
        "the request needs \"examples\": a non-empty list of objects "
        "of features");
  }
  if (!examples->numbers.empty()) {
    return InvalidArgumentError("\"examples\" must list objects of features, not numbers");
  }
  tf::Features context;
  if (const JsonValue* c = body.Find("context"))
    RETURN_IF_ERROR(AddFeatures(*c, "context", &context));
  std::vector<std::string> serialized;
  for (size_t e = 0; e < examples->items.size(); ++e) {
    tf::Example example;
    *example.mutable_features() = context;
    RETURN_IF_ERROR(AddFeatures(examples->items[e], "example " + std::to_string(e),
                                example.mutable_features()));
    serialized.push_back(example.SerializeAsString());
  }
  return serialized;
}

StatusOr<std::string> ClassifyOrRegress(const LoadedModel& model, const std::string& key,
                                        bool classify, const JsonValue& body) {
  ASSIGN_OR_RETURN(const tf::SignatureDef* signature, model.Signature(key));
  auto input = signature->inputs().find("inputs");
  if (signature->inputs().size() != 1 || input == signature->inputs().end() ||
      input->second.dtype() != static_cast<int>(DType::kString)) {
    return InvalidArgumentError(std::string(classify ? "classify" : "regress") +
                                " needs a signature with one DT_STRING input 'inputs' "
                                "(serialized tf.Example); '" +
                                key + "' has another form");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> serialized, SerializedExamplesFromJson(body));
  const size_t rows = serialized.size();
  Tensor examples;
  examples.dtype = DType::kString;
  examples.shape = {static_cast<int64_t>(rows)};
  examples.s = std::move(serialized);
  ASSIGN_OR_RETURN(auto outputs, model.Run(key, {{"inputs", std::move(examples)}}));
  return classify ? ClassifyResults(outputs, rows) : RegressResults(outputs, rows);
}

}  // namespace shardtrain::serving
