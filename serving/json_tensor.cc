#include "serving/json_tensor.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

namespace shardtrain::serving {
namespace {

using Json = nlohmann::json;
using Kind = JsonValue::Kind;

const char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

StatusOr<std::string> Base64Decode(const std::string& text) {
  std::string out;
  int buffer = 0, bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const char* at = std::strchr(kBase64Alphabet, c);
    if (at == nullptr || c == '\0') return InvalidArgumentError("invalid base64 in a b64 value");
    buffer = (buffer << 6) | static_cast<int>(at - kBase64Alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

namespace {

std::string Base64Encode(const std::string& data) {
  std::string out;
  int buffer = 0, bits = 0;
  for (unsigned char c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Alphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kBase64Alphabet[(buffer << (6 - bits)) & 0x3f];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

}  // namespace

bool IsB64(const JsonValue& v) {
  return v.is_object() && v.members.size() == 1 && v.members[0].key == "b64";
}

namespace {

// Appends one scalar JSON value to `t` (of t.dtype); `where` names it in errors.
Status AppendValue(const JsonValue& v, const std::string& where, Tensor* t) {
  switch (t->dtype) {
    case DType::kFloat32:
      if (v.kind != Kind::kNumber) return InvalidArgumentError(where + ": expected a number, got " + v.Brief());
      t->f.push_back(static_cast<float>(v.number));
      return OkStatus();
    case DType::kFloat64:
      if (v.kind != Kind::kNumber) return InvalidArgumentError(where + ": expected a number, got " + v.Brief());
      t->d.push_back(v.number);
      return OkStatus();
    case DType::kInt32:
    case DType::kInt64:
      if (v.kind != Kind::kNumber || !v.is_integer) {
        return InvalidArgumentError(where + ": expected an integer, got " + v.Brief());
      }
      t->i.push_back(v.integer);
      return OkStatus();
    case DType::kBool:
      if (v.kind != Kind::kBool) return InvalidArgumentError(where + ": expected true or false, got " + v.Brief());
      t->i.push_back(v.boolean ? 1 : 0);
      return OkStatus();
    case DType::kString:
      if (v.kind == Kind::kString) {
        t->s.push_back(v.text);
        return OkStatus();
      }
      if (IsB64(v) && v.members[0].value.kind == Kind::kString) {
        ASSIGN_OR_RETURN(std::string bytes, Base64Decode(v.members[0].value.text));
        t->s.push_back(std::move(bytes));
        return OkStatus();
      }
      return InvalidArgumentError(where + ": expected a string or {\"b64\": ...}, got " + v.Brief());
    default:
      return InvalidArgumentError(where + ": inputs of dtype " +
                                  std::to_string(static_cast<int>(t->dtype)) + " are not supported");
  }
}

// Appends a numeric array's numbers (JsonValue::numbers) to `t`.
Status AppendNumbers(const JsonValue& v, const std::string& where, Tensor* t) {
  switch (t->dtype) {
    case DType::kFloat32:
      for (double n : v.numbers) t->f.push_back(static_cast<float>(n));
      return OkStatus();
    case DType::kFloat64:
      t->d.insert(t->d.end(), v.numbers.begin(), v.numbers.end());
      return OkStatus();
    case DType::kInt32:
    case DType::kInt64:
      if (!v.numbers_are_integers) {
        return InvalidArgumentError(where + ": expected integers, got non-integer numbers");
      }
      for (double n : v.numbers) t->i.push_back(static_cast<int64_t>(n));
      return OkStatus();
    default:
      return InvalidArgumentError(where + ": expected " +
                                  (t->dtype == DType::kBool ? std::string("true or false")
                                                            : std::string("strings")) +
                                  ", got numbers");
  }
}

// The shape of a nested list value (scalars: []); InvalidArgument when ragged.
StatusOr<std::vector<int64_t>> ShapeOf(const JsonValue& v, const std::string& where) {
  if (!v.is_array()) return std::vector<int64_t>{};
  if (!v.numbers.empty()) return std::vector<int64_t>{static_cast<int64_t>(v.numbers.size())};
  std::vector<int64_t> shape = {static_cast<int64_t>(v.items.size())};
  if (v.items.empty()) return shape;
  ASSIGN_OR_RETURN(std::vector<int64_t> inner, ShapeOf(v.items[0], where));
  for (const JsonValue& element : v.items) {
    if (element.is_array() != v.items[0].is_array() ||
        (element.is_array() && element.size() != v.items[0].size())) {
      return InvalidArgumentError(where + ": the nested lists are ragged");
    }
  }
  if (!inner.empty()) {  // deeper levels: check every element
    for (const JsonValue& element : v.items) {
      ASSIGN_OR_RETURN(std::vector<int64_t> other, ShapeOf(element, where));
      if (other != inner) return InvalidArgumentError(where + ": the nested lists are ragged");
    }
  }
  shape.insert(shape.end(), inner.begin(), inner.end());
  return shape;
}

Status Flatten(const JsonValue& v, const std::string& where, Tensor* t) {
  if (!v.numbers.empty()) return AppendNumbers(v, where, t);
  if (v.is_array()) {
    for (const JsonValue& element : v.items) RETURN_IF_ERROR(Flatten(element, where, t));
    return OkStatus();
  }
  return AppendValue(v, where, t);
}

StatusOr<Tensor> TensorFromJson(const JsonValue& v, DType dtype, const std::string& where) {
  Tensor t;
  t.dtype = dtype;
  ASSIGN_OR_RETURN(t.shape, ShapeOf(v, where));
  RETURN_IF_ERROR(Flatten(v, where, &t));
  return t;
}

// Stacks per-row values (each of shape inner) into [rows, inner...].
StatusOr<Tensor> StackRows(const std::vector<const JsonValue*>& rows, DType dtype,
                           const std::string& where) {
  Tensor t;
  t.dtype = dtype;
  std::vector<int64_t> inner;
  for (size_t r = 0; r < rows.size(); ++r) {
    ASSIGN_OR_RETURN(std::vector<int64_t> shape, ShapeOf(*rows[r], where));
    if (r == 0) inner = shape;
    if (shape != inner) return InvalidArgumentError(where + ": the instances have different shapes");
    RETURN_IF_ERROR(Flatten(*rows[r], where, &t));
  }
  t.shape = {static_cast<int64_t>(rows.size())};
  t.shape.insert(t.shape.end(), inner.begin(), inner.end());
  return t;
}

std::string FormatNumber(double value, bool single) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  auto result = single ? std::to_chars(buffer, buffer + sizeof(buffer), static_cast<float>(value))
                       : std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text(buffer, result.ptr);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

// Element `index` of `t` as JSON text.
std::string FormatElement(const Tensor& t, size_t index, bool bytes) {
  switch (t.dtype) {
    case DType::kFloat32: return FormatNumber(t.f[index], true);
    case DType::kFloat64: return FormatNumber(t.d[index], false);
    case DType::kBool: return t.i[index] ? "true" : "false";
    case DType::kString:
      return bytes ? "{\"b64\": " + JsonQuote(Base64Encode(t.s[index])) + "}" : JsonQuote(t.s[index]);
    default: return std::to_string(t.i[index]);
  }
}

// The sub-array of dims [dim, rank) starting at flat element `offset`.
void FormatNested(const Tensor& t, size_t dim, size_t* offset, bool bytes, std::string* out) {
  if (dim == t.shape.size()) {
    *out += FormatElement(t, (*offset)++, bytes);
    return;
  }
  *out += '[';
  for (int64_t k = 0; k < t.shape[dim]; ++k) {
    if (k > 0) *out += ", ";
    FormatNested(t, dim + 1, offset, bytes, out);
  }
  *out += ']';
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string DtypeName(int dtype) {
  const std::string& name = tf::DataType_Name(static_cast<tf::DataType>(dtype));
  return name.empty() ? "DT_" + std::to_string(dtype) : name;
}

std::string TensorInfoJson(const tf::TensorInfo& info) {
  std::string dims;
  for (const auto& dim : info.tensor_shape().dim()) {
    dims += std::string(dims.empty() ? "" : ", ") + "{\"size\": \"" + std::to_string(dim.size()) +
            "\", \"name\": " + JsonQuote(dim.name()) + "}";
  }
  const bool unknown_rank = !info.has_tensor_shape() || info.tensor_shape().unknown_rank();
  return "{\"dtype\": \"" + DtypeName(info.dtype()) + "\", \"tensor_shape\": {\"dim\": [" + dims +
         "], \"unknown_rank\": " + (unknown_rank ? "true" : "false") + "}, \"name\": " +
         JsonQuote(info.name()) + "}";
}

// InvalidArgument naming the input, its expected shape and the received one
// when `tensor` does not have `info`'s shape (rank, or a known dimension).
Status CheckInputShape(const std::string& key, const tf::TensorInfo& info, const Tensor& tensor) {
  if (!info.has_tensor_shape() || info.tensor_shape().unknown_rank()) return OkStatus();
  std::vector<int64_t> expected;
  for (const auto& dim : info.tensor_shape().dim()) expected.push_back(dim.size());
  bool fits = expected.size() == tensor.shape.size();
  for (size_t d = 0; fits && d < expected.size(); ++d) {
    fits = expected[d] < 0 || expected[d] == tensor.shape[d];
  }
  if (fits) return OkStatus();
  return InvalidArgumentError("input '" + key + "' expects shape " + ShapeText(expected) +
                              " (" + DtypeName(info.dtype()) + "; -1: any size), got " +
                              tensor.ShapeString());
}

}  // namespace

Status ExplainRunError(const Status& run_error, const std::map<std::string, Tensor>& inputs,
                       const tf::SignatureDef& signature) {
  if (run_error.ok() || run_error.code() != StatusCode::kInvalidArgument) return run_error;
  for (const auto& [key, tensor] : inputs) {
    auto info = signature.inputs().find(key);
    if (info == signature.inputs().end()) continue;
    Status mismatch = CheckInputShape(key, info->second, tensor);
    if (!mismatch.ok()) {
      return InvalidArgumentError(mismatch.message() + " (the model failed: " +
                                  run_error.message() + ")");
    }
  }
  return run_error;
}

std::string JsonQuote(const std::string& text) { return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace); }

StatusOr<JsonValue> ParsePredictBody(const std::string& body) {
  ASSIGN_OR_RETURN(JsonValue json, ParseJson(body));
  if (!json.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  return json;
}

StatusOr<std::string> SignatureNameOf(const JsonValue& body) {
  const JsonValue* name = body.Find("signature_name");
  if (name == nullptr) return std::string();
  if (name->kind != Kind::kString) return InvalidArgumentError("'signature_name' key must be a string value.");
  return name->text;
}

StatusOr<PredictRequest> PredictRequestFromJson(const JsonValue& json,
                                                const tf::SignatureDef& signature) {
  PredictRequest request;
  ASSIGN_OR_RETURN(request.signature_name, SignatureNameOf(json));
  const JsonValue* instances = json.Find("instances");
  const JsonValue* inputs = json.Find("inputs");
  if ((instances != nullptr) == (inputs != nullptr)) {
    return InvalidArgumentError("the request must have exactly one of \"instances\" (row format) "
                                "or \"inputs\" (columnar format)");
  }
  auto dtype_of = [&](const std::string& key) -> StatusOr<DType> {
    auto found = signature.inputs().find(key);
    if (found == signature.inputs().end()) {
      return InvalidArgumentError("the signature has no input '" + key + "'");
    }
    return static_cast<DType>(found->second.dtype());
  };
  // "input 'x' (DT_FLOAT)": conversion errors name the input and the dtype it takes.
  auto where = [&](const std::string& key) {
    return "input '" + key + "' (" + DtypeName(signature.inputs().at(key).dtype()) + ")";
  };
  const bool single = signature.inputs().size() == 1;
  const std::string single_key = single ? signature.inputs().begin()->first : "";
  if (instances != nullptr) {
    request.row_format = true;
    if (!instances->is_array()) return InvalidArgumentError("\"instances\" must be a list");
    if (instances->items.empty() && instances->numbers.empty()) {
      return InvalidArgumentError("\"instances\" is an empty list; send at least one instance");
    }
    const bool named = !instances->items.empty() && instances->items[0].is_object() &&
                       !IsB64(instances->items[0]);
    if (!named) {
      if (!single) {
        return InvalidArgumentError("the signature has " + std::to_string(signature.inputs().size()) +
                                    " inputs: each instance must be an object naming them");
      }
      ASSIGN_OR_RETURN(DType dtype, dtype_of(single_key));
      if (!instances->numbers.empty()) {  // scalar rows: the list is the tensor
        ASSIGN_OR_RETURN(request.inputs[single_key],
                         TensorFromJson(*instances, dtype, where(single_key)));
      } else {
        std::vector<const JsonValue*> rows;
        for (const JsonValue& row : instances->items) rows.push_back(&row);
        ASSIGN_OR_RETURN(request.inputs[single_key],
                         StackRows(rows, dtype, where(single_key)));
      }
    } else {
      std::map<std::string, std::vector<const JsonValue*>> columns;
      for (const JsonValue& row : instances->items) {
        if (!row.is_object()) return InvalidArgumentError("every instance must be an object");
        for (const auto& [key, value] : row.members) columns[key].push_back(&value);
      }
      for (const auto& [key, rows] : columns) {
        if (rows.size() != instances->items.size()) {
          return InvalidArgumentError("input '" + key + "' is missing from some instances");
        }
        ASSIGN_OR_RETURN(DType dtype, dtype_of(key));
        ASSIGN_OR_RETURN(request.inputs[key], StackRows(rows, dtype, where(key)));
      }
    }
  } else {
    request.row_format = false;
    if (inputs->is_object() && !IsB64(*inputs)) {
      for (const auto& [key, value] : inputs->members) {
        ASSIGN_OR_RETURN(DType dtype, dtype_of(key));
        ASSIGN_OR_RETURN(request.inputs[key], TensorFromJson(value, dtype, where(key)));
      }
    } else {
      if (!single) return InvalidArgumentError("\"inputs\" must be an object naming each input");
      ASSIGN_OR_RETURN(DType dtype, dtype_of(single_key));
      ASSIGN_OR_RETURN(request.inputs[single_key],
                       TensorFromJson(*inputs, dtype, where(single_key)));
    }
  }
  return request;
}

StatusOr<std::string> FormatPredictResponse(const std::map<std::string, Tensor>& outputs,
                                            bool row_format) {
  std::string out;
  if (!row_format) {
    out = "{\"outputs\": ";
    if (outputs.size() == 1) {
      size_t offset = 0;
      FormatNested(outputs.begin()->second, 0, &offset, EndsWith(outputs.begin()->first, "_bytes"), &out);
    } else {
      out += "{";
      bool first = true;
      for (const auto& [key, t] : outputs) {
        out += std::string(first ? "" : ", ") + JsonQuote(key) + ": ";
        size_t offset = 0;
        FormatNested(t, 0, &offset, EndsWith(key, "_bytes"), &out);
        first = false;
      }
      out += "}";
    }
    return out + "}";
  }
  // Row format: every output is split along dim 0.
  int64_t rows = -1;
  for (const auto& [key, t] : outputs) {
    if (t.shape.empty()) {
      return InvalidArgumentError("output '" + key + "' is a scalar; use the columnar format (\"inputs\")");
    }
    if (rows >= 0 && t.shape[0] != rows) {
      return InvalidArgumentError("the outputs have different batch sizes; use the columnar format");
    }
    rows = t.shape[0];
  }
  out = "{\"predictions\": [";
  std::map<std::string, size_t> offsets;
  for (int64_t r = 0; r < std::max<int64_t>(rows, 0); ++r) {
    if (r > 0) out += ", ";
    if (outputs.size() > 1) out += "{";
    bool first = true;
    for (const auto& [key, t] : outputs) {
      if (outputs.size() > 1) out += std::string(first ? "" : ", ") + JsonQuote(key) + ": ";
      FormatNested(t, 1, &offsets[key], EndsWith(key, "_bytes"), &out);
      first = false;
    }
    if (outputs.size() > 1) out += "}";
  }
  return out + "]}";
}

std::string SignatureDefJson(const tf::SignatureDef& signature) {
  auto map_json = [](const auto& infos) {
    std::map<std::string, tf::TensorInfo> sorted(infos.begin(), infos.end());
    std::string out = "{";
    for (const auto& [key, info] : sorted) {
      out += std::string(out.size() > 1 ? ", " : "") + JsonQuote(key) + ": " + TensorInfoJson(info);
    }
    return out + "}";
  };
  return "{\"inputs\": " + map_json(signature.inputs()) + ", \"outputs\": " +
         map_json(signature.outputs()) + ", \"method_name\": " + JsonQuote(signature.method_name()) +
         ", \"defaults\": {}}";
}

}  // namespace shardtrain::serving
