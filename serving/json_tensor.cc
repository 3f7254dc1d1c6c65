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

// Bare NaN / Infinity tokens become these strings before parsing.
constexpr char kSpecialPrefix[] = "\x01";

std::string QuoteSpecialTokens(const std::string& body) {
  std::string out;
  out.reserve(body.size() + 16);
  bool in_string = false;
  for (size_t k = 0; k < body.size(); ++k) {
    const char c = body[k];
    if (in_string) {
      out += c;
      if (c == '\\' && k + 1 < body.size()) {
        out += body[++k];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool matched = false;
    for (const char* token : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::strlen(token);
      if (body.compare(k, n, token) == 0) {
        out += std::string("\"\\u0001") + token + "\"";  // parses to kSpecialPrefix + token
        k += n - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += c;
  }
  return out;
}

StatusOr<Json> ParseBody(const std::string& body) {
  Json json = Json::parse(QuoteSpecialTokens(body), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return InvalidArgumentError("the request body is not valid JSON");
  if (!json.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  return json;
}

const char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

// Appends one scalar JSON value to `t` (of t.dtype); `where` names it in errors.
Status AppendValue(const Json& v, const std::string& where, Tensor* t) {
  switch (t->dtype) {
    case DType::kFloat32:
    case DType::kFloat64: {
      double value;
      if (v.is_number()) {
        value = v.get<double>();
      } else if (v.is_string() && v.get<std::string>().rfind(kSpecialPrefix, 0) == 0) {
        const std::string token = v.get<std::string>().substr(1);
        value = token == "NaN"        ? std::numeric_limits<double>::quiet_NaN()
                : token == "Infinity" ? std::numeric_limits<double>::infinity()
                                      : -std::numeric_limits<double>::infinity();
      } else {
        return InvalidArgumentError(where + ": expected a number, got " + v.dump());
      }
      if (t->dtype == DType::kFloat32) {
        t->f.push_back(static_cast<float>(value));
      } else {
        t->d.push_back(value);
      }
      return OkStatus();
    }
    case DType::kInt32:
    case DType::kInt64:
      if (!v.is_number_integer()) {
        return InvalidArgumentError(where + ": expected an integer, got " + v.dump());
      }
      t->i.push_back(v.get<int64_t>());
      return OkStatus();
    case DType::kBool:
      if (!v.is_boolean()) return InvalidArgumentError(where + ": expected true or false, got " + v.dump());
      t->i.push_back(v.get<bool>() ? 1 : 0);
      return OkStatus();
    case DType::kString:
      if (v.is_string()) {
        t->s.push_back(v.get<std::string>());
        return OkStatus();
      }
      if (v.is_object() && v.size() == 1 && v.contains("b64") && v["b64"].is_string()) {
        ASSIGN_OR_RETURN(std::string bytes, Base64Decode(v["b64"].get<std::string>()));
        t->s.push_back(std::move(bytes));
        return OkStatus();
      }
      return InvalidArgumentError(where + ": expected a string or {\"b64\": ...}, got " + v.dump());
    default:
      return InvalidArgumentError(where + ": inputs of dtype " +
                                  std::to_string(static_cast<int>(t->dtype)) + " are not supported");
  }
}

// The shape of a nested list value (scalars: []); InvalidArgument when ragged.
StatusOr<std::vector<int64_t>> ShapeOf(const Json& v, const std::string& where) {
  if (!v.is_array()) return std::vector<int64_t>{};
  std::vector<int64_t> shape = {static_cast<int64_t>(v.size())};
  if (v.empty()) return shape;
  ASSIGN_OR_RETURN(std::vector<int64_t> inner, ShapeOf(v[0], where));
  for (const Json& element : v) {
    ASSIGN_OR_RETURN(std::vector<int64_t> other, ShapeOf(element, where));
    if (other != inner) return InvalidArgumentError(where + ": the nested lists are ragged");
  }
  shape.insert(shape.end(), inner.begin(), inner.end());
  return shape;
}

Status Flatten(const Json& v, const std::string& where, Tensor* t) {
  if (v.is_array()) {
    for (const Json& element : v) RETURN_IF_ERROR(Flatten(element, where, t));
    return OkStatus();
  }
  return AppendValue(v, where, t);
}

StatusOr<Tensor> TensorFromJson(const Json& v, DType dtype, const std::string& where) {
  Tensor t;
  t.dtype = dtype;
  ASSIGN_OR_RETURN(t.shape, ShapeOf(v, where));
  RETURN_IF_ERROR(Flatten(v, where, &t));
  return t;
}

// Stacks per-row values (each of shape inner) into [rows, inner...].
StatusOr<Tensor> StackRows(const std::vector<const Json*>& rows, DType dtype,
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

}  // namespace

std::string JsonQuote(const std::string& text) { return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace); }

StatusOr<std::string> PeekSignatureName(const std::string& body) {
  ASSIGN_OR_RETURN(Json json, ParseBody(body));
  if (!json.contains("signature_name")) return std::string();
  if (!json["signature_name"].is_string()) return InvalidArgumentError("signature_name must be a string");
  return json["signature_name"].get<std::string>();
}

StatusOr<PredictRequest> ParsePredictRequest(const std::string& body,
                                             const tf::SignatureDef& signature) {
  ASSIGN_OR_RETURN(Json json, ParseBody(body));
  PredictRequest request;
  if (json.contains("signature_name") && json["signature_name"].is_string()) {
    request.signature_name = json["signature_name"].get<std::string>();
  }
  const bool has_instances = json.contains("instances"), has_inputs = json.contains("inputs");
  if (has_instances == has_inputs) {
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
  const bool single = signature.inputs().size() == 1;
  const std::string single_key = single ? signature.inputs().begin()->first : "";
  if (has_instances) {
    request.row_format = true;
    const Json& instances = json["instances"];
    if (!instances.is_array()) return InvalidArgumentError("\"instances\" must be a list");
    const bool named = !instances.empty() && instances[0].is_object() &&
                       !(instances[0].size() == 1 && instances[0].contains("b64"));
    if (!named) {
      if (!single) {
        return InvalidArgumentError("the signature has " + std::to_string(signature.inputs().size()) +
                                    " inputs: each instance must be an object naming them");
      }
      std::vector<const Json*> rows;
      for (const Json& row : instances) rows.push_back(&row);
      ASSIGN_OR_RETURN(DType dtype, dtype_of(single_key));
      ASSIGN_OR_RETURN(request.inputs[single_key], StackRows(rows, dtype, "input '" + single_key + "'"));
    } else {
      std::map<std::string, std::vector<const Json*>> columns;
      for (const Json& row : instances) {
        if (!row.is_object()) return InvalidArgumentError("every instance must be an object");
        for (const auto& [key, value] : row.items()) columns[key].push_back(&value);
      }
      for (const auto& [key, rows] : columns) {
        if (rows.size() != instances.size()) {
          return InvalidArgumentError("input '" + key + "' is missing from some instances");
        }
        ASSIGN_OR_RETURN(DType dtype, dtype_of(key));
        ASSIGN_OR_RETURN(request.inputs[key], StackRows(rows, dtype, "input '" + key + "'"));
      }
    }
  } else {
    request.row_format = false;
    const Json& inputs = json["inputs"];
    if (inputs.is_object() && !(inputs.size() == 1 && inputs.contains("b64"))) {
      for (const auto& [key, value] : inputs.items()) {
        ASSIGN_OR_RETURN(DType dtype, dtype_of(key));
        ASSIGN_OR_RETURN(request.inputs[key], TensorFromJson(value, dtype, "input '" + key + "'"));
      }
    } else {
      if (!single) return InvalidArgumentError("\"inputs\" must be an object naming each input");
      ASSIGN_OR_RETURN(DType dtype, dtype_of(single_key));
      ASSIGN_OR_RETURN(request.inputs[single_key], TensorFromJson(inputs, dtype, "input '" + single_key + "'"));
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
