// TF Serving's JSON tensor mapping (g3doc/api_rest.md, "Request format" and
// "JSON Mapping"), checked with the cases of tensorflow_serving/util/
// json_tensor_test.cc that do not need a model: row ("instances") and
// columnar ("inputs") requests of one unnamed or several named inputs, NaN and
// Infinity, {"b64": ...} strings, and the malformed requests it rejects
// (InvalidArgument each, with our wording).
#include "serving/json_tensor.h"

#include <gtest/gtest.h>

#include <cmath>

namespace shardtrain::serving {
namespace {

// A signature whose inputs have these dtypes (no shapes, as in those tests).
tf::SignatureDef Signature(const std::vector<std::pair<std::string, tf::DataType>>& inputs) {
  tf::SignatureDef signature;
  for (const auto& [name, dtype] : inputs) {
    tf::TensorInfo& info = (*signature.mutable_inputs())[name];
    info.set_name(name + ":0");
    info.set_dtype(dtype);
  }
  return signature;
}

StatusOr<PredictRequest> Request(const std::string& body, const tf::SignatureDef& signature) {
  auto json = ParsePredictBody(body);
  if (!json.ok()) return json.status();
  auto name = SignatureNameOf(*json);
  if (!name.ok()) return name.status();
  return PredictRequestFromJson(*json, signature);
}

TEST(JsonTensorTest, SingleUnnamedTensor) {
  auto request =
      Request(R"({"instances": [[1,2],[3,4],[5,6]]})", Signature({{"default", tf::DT_INT32}}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->row_format);
  const Tensor& t = request->inputs.at("default");
  EXPECT_EQ(t.dtype, DType::kInt32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t.i, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST(JsonTensorTest, SingleUnnamedTensorColumnarFormat) {
  auto request =
      Request(R"({"inputs": [[1,2],[3,4],[5,6]]})", Signature({{"default", tf::DT_INT32}}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_FALSE(request->row_format);
  EXPECT_EQ(request->inputs.at("default").shape, (std::vector<int64_t>{3, 2}));
}

TEST(JsonTensorTest, MultipleNamedTensorsWithNaNAndInfinity) {
  const auto signature = Signature({{"int_tensor", tf::DT_INT32},
                                    {"str_tensor", tf::DT_STRING},
                                    {"float_tensor", tf::DT_FLOAT},
                                    {"dbl_tensor", tf::DT_DOUBLE}});
  auto request = Request(R"({"instances": [
      {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
       "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
      {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
       "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]})",
                         signature);
  ASSERT_TRUE(request.ok()) << request.status();
  const auto& inputs = request->inputs;
  EXPECT_EQ(inputs.at("int_tensor").shape, (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(inputs.at("int_tensor").i, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2}));
  EXPECT_EQ(inputs.at("str_tensor").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(inputs.at("str_tensor").s, (std::vector<std::string>{"foo", "bar", "baz", "bat"}));
  const Tensor& f = inputs.at("float_tensor");
  ASSERT_EQ(f.f.size(), 4u);
  EXPECT_EQ(f.f[0], 1.0f);
  EXPECT_TRUE(std::isnan(f.f[1]));
  EXPECT_EQ(f.f[2], 2.0f);
  EXPECT_TRUE(std::isinf(f.f[3]) && f.f[3] > 0);
  const Tensor& d = inputs.at("dbl_tensor");
  EXPECT_EQ(d.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_TRUE(std::isnan(d.d[0]));
  EXPECT_EQ(d.d[1], 2.0);
}

TEST(JsonTensorTest, Base64Strings) {
  // SingleUnnamedTensorBase64Scalars / Lists: {"b64": ...} decodes to bytes.
  auto request = Request(R"({"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]})",
                         Signature({{"default", tf::DT_STRING}}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->inputs.at("default").s, (std::vector<std::string>{"hello", "world"}));
  request = Request(R"({"instances": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]]})",
                    Signature({{"default", tf::DT_STRING}}));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->inputs.at("default").shape, (std::vector<int64_t>{1, 2}));
}

// SingleUnnamedTensorErrors and MultipleNamedTensorErrors.
TEST(JsonTensorTest, MalformedRequestsAreInvalidArgument) {
  const auto ints = Signature({{"default", tf::DT_INT32}});
  const auto named = Signature({{"int_tensor", tf::DT_INT32}, {"str_tensor", tf::DT_STRING}});
  const std::vector<std::tuple<std::string, tf::SignatureDef, std::string>> cases = {
      {"", ints, "malformed JSON"},
      {R"({"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]})", ints,
       "'signature_name' key must be a string value."},
      {R"({"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]})", ints,
       "exactly one of"},
      {R"({"instances": [[1,2],[3,4],[5,6,7]]})", ints, "different shapes"},
      {R"({"instances": [[1,2],[3,4],[[5,6]]]})", ints, "different shapes"},
      {R"({"instances": [1, [1]]})", ints, "different shapes"},
      {R"({"instances": [[1,2],["a", "b"]]})", ints, "expected an integer"},
      {R"({"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
                         {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]})",
       named, "different shapes"},
      {R"({"instances": [{"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
                         {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]})",
       named, "different shapes"},
      {R"({"instances": [{"int_tensor": [[1,2]], "str_tensor": ["foo"]}, [1, 20, 30]]})", named,
       "object"},
      {R"({"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]})",
       Signature({{"str_tensor", tf::DT_STRING}}), "different shapes"},
  };
  for (const auto& [body, signature, message] : cases) {
    auto request = Request(body, signature);
    ASSERT_FALSE(request.ok()) << body;
    EXPECT_EQ(request.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(request.status().message().find(message), std::string::npos)
        << body << " → " << request.status().message();
  }
}

// FromJsonSingleTensor / FromJsonMultipleNamedTensors / non-finite floats:
// one output is the list itself, several are objects per row (row format) or
// one object of tensors (columnar).
TEST(JsonTensorTest, ResponsesInRowAndColumnarFormat) {
  Tensor single = Tensor::Floats({2, 2});
  single.f = {1.0f, 2.5f, NAN, -INFINITY};
  auto row = FormatPredictResponse({{"out", single}}, true);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(*row, R"({"predictions": [[1.0, 2.5], [NaN, -Infinity]]})");
  auto columnar = FormatPredictResponse({{"out", single}}, false);
  ASSERT_TRUE(columnar.ok()) << columnar.status();
  EXPECT_EQ(*columnar, R"({"outputs": [[1.0, 2.5], [NaN, -Infinity]]})");
  Tensor names;
  names.dtype = DType::kString;
  names.shape = {2};
  names.s = {"a", "b"};
  row = FormatPredictResponse({{"out", single}, {"name", names}}, true);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(
      *row,
      R"({"predictions": [{"name": "a", "out": [1.0, 2.5]}, {"name": "b", "out": [NaN, -Infinity]}]})");
}

}  // namespace
}  // namespace shardtrain::serving
