// The request-body JSON reader and the tensor mapping: TF Serving's NaN /
// Infinity tokens, numeric fast path vs mixed arrays, exact big integers,
// escapes, b64 strings, ragged lists; malformed or mutated bodies are errors,
// never crashes.
#include "serving/json_value.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "serving/json_tensor.h"

namespace shardtrain::serving {
namespace {

TEST(JsonValueTest, ParsesTfServingBodies) {
  auto v = ParseJson(R"( {"a": [1.5, -2, NaN, Infinity, -Infinity], "s": "x\"\u00e9\n", "b": [true, null],
                        "big": [1, 12345678901234567]} )");
  ASSERT_TRUE(v.ok()) << v.status();
  const JsonValue* a = v->Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->numbers.size(), 5u);
  EXPECT_EQ(a->numbers[0], 1.5);
  EXPECT_TRUE(std::isnan(a->numbers[2]));
  EXPECT_EQ(a->numbers[4], -INFINITY);
  EXPECT_FALSE(a->numbers_are_integers);
  EXPECT_EQ(v->Find("s")->text, "x\"\xc3\xa9\n");
  EXPECT_EQ(v->Find("b")->items.size(), 2u);
  const JsonValue* big = v->Find("big");
  ASSERT_EQ(big->items.size(), 2u);  // beyond 2^53: exact integer nodes
  EXPECT_EQ(big->items[1].integer, 12345678901234567);
}

// Fuzz finding (fuzz_json_tensor, UBSan): a numeric array that turns mixed
// kept casting each number to int64, undefined for 7.8e80.
TEST(JsonValueTest, HugeNumberInAnArrayThatTurnsMixedStaysADouble) {
  auto v = ParseJson("[4.0, 7.8e80, false, [2, 4]]");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->items.size(), 4u);
  EXPECT_FALSE(v->items[1].is_integer);
  EXPECT_EQ(v->items[1].number, 7.8e80);
  auto ints = ParseJson("[1, 2, true]");
  ASSERT_TRUE(ints.ok()) << ints.status();
  ASSERT_EQ(ints->items.size(), 3u);
  EXPECT_TRUE(ints->items[1].is_integer);
  EXPECT_EQ(ints->items[1].integer, 2);
}

TEST(JsonValueTest, MalformedBodiesAreErrorsNamingTheOffset) {
  for (const char* bad : {"", "{", "[1, 2", "{\"a\" 1}", "[1,]", "\"abc", "{\"a\": tru}", "[1] x",
                          "[\"\\q\"]", "[1e]"}) {
    auto v = ParseJson(bad);
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << bad;
    if (!v.ok()) {
      EXPECT_NE(v.status().message().find("malformed JSON at byte"), std::string::npos);
    }
  }
  std::string deep(100, '[');
  EXPECT_NE(ParseJson(deep).status().message().find("deeper than 64"), std::string::npos);
}

TEST(JsonValueTest, RandomMutationsNeverCrash) {
  const std::string body =
      R"({"signature_name": "serving_default", "instances": [[0.5, 1e-3, -2], [NaN, 3, 4]],)"
      R"( "inputs": {"x": [{"b64": "aGk="}, "t", true]}})";
  std::mt19937 random(7);
  for (int trial = 0; trial < 20000; ++trial) {
    std::string mutated = body;
    for (int k = 0; k < 3; ++k) {
      mutated[random() % mutated.size()] = static_cast<char>(random() % 256);
    }
    if (random() % 4 == 0) mutated.resize(random() % mutated.size());
    auto v = ParseJson(mutated);
    if (v.ok()) {
      tf::SignatureDef signature;
      (*signature.mutable_inputs())["x"].set_dtype(tf::DT_FLOAT);
      PredictRequestFromJson(*v, signature).status().IgnoreError();
    }
  }
}

TEST(JsonTensorTest, RowsColumnsAndDtypes) {
  tf::SignatureDef signature;
  (*signature.mutable_inputs())["x"].set_dtype(tf::DT_FLOAT);
  auto body = ParsePredictBody(R"({"instances": [[1, 2], [3, 4.5]]})");
  ASSERT_TRUE(body.ok());
  auto request = PredictRequestFromJson(*body, signature);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->inputs["x"].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(request->inputs["x"].f, (std::vector<float>{1, 2, 3, 4.5f}));
  auto ragged = PredictRequestFromJson(*ParsePredictBody(R"({"instances": [[1, 2], [3]]})"), signature);
  EXPECT_NE(ragged.status().message().find("different shapes"), std::string::npos);
  (*signature.mutable_inputs())["x"].set_dtype(tf::DT_STRING);
  auto strings = PredictRequestFromJson(*ParsePredictBody(R"({"inputs": [{"b64": "aGk="}, "t"]})"), signature);
  ASSERT_TRUE(strings.ok()) << strings.status();
  EXPECT_EQ(strings->inputs["x"].s, (std::vector<std::string>{"hi", "t"}));
  (*signature.mutable_inputs())["x"].set_dtype(tf::DT_INT64);
  auto fractional = PredictRequestFromJson(*ParsePredictBody(R"({"inputs": [1, 2.5]})"), signature);
  EXPECT_NE(fractional.status().message().find("expected integers"), std::string::npos);
  // Output formatting: NaN tokens, one-row predictions, b64 for *_bytes keys.
  Tensor y = Tensor::Floats({1, 2});
  y.f = {NAN, 2};
  Tensor bytes;
  bytes.dtype = DType::kString;
  bytes.shape = {1};
  bytes.s = {"hi"};
  EXPECT_EQ(*FormatPredictResponse({{"y", y}}, true), R"({"predictions": [[NaN, 2.0]]})");
  EXPECT_EQ(*FormatPredictResponse({{"out_bytes", bytes}}, false), R"({"outputs": [{"b64": "aGk="}]})");
}

}  // namespace
}  // namespace shardtrain::serving
