// The tf.Example mapping of TF Serving's Classify and Regress API
// (g3doc/api_rest.md, "Classify and Regress API", "Request format"): decimal
// numbers → float_list, whole numbers and booleans → int64_list, strings and
// {"b64": ...} → bytes_list; "context" features reach each example unless it
// has its own; bad values are InvalidArgument naming the example and feature.
#include "serving/classify_regress.h"

#include <gtest/gtest.h>

#include "proto/tf/example.pb.h"

namespace shardtrain::serving {
namespace {

std::vector<tf::Example> Examples(const std::string& body) {
  auto json = ParseJson(body);
  EXPECT_TRUE(json.ok()) << json.status();
  auto serialized = SerializedExamplesFromJson(*json);
  std::vector<tf::Example> out;
  if (!serialized.ok()) {
    ADD_FAILURE() << serialized.status();
    return out;
  }
  for (const std::string& bytes : *serialized) {
    out.emplace_back();
    EXPECT_TRUE(out.back().ParseFromString(bytes));
  }
  return out;
}

TEST(ClassifyRegressTest, JsonFeaturesBecomeTfExampleFeatures) {
  const auto examples = Examples(
      R"({"context": {"lang": "en", "x": 9.0},
          "examples": [{"x": 1.5, "ids": [1, 2], "flag": true, "raw": {"b64": "aGk="},
                        "v": [0.5, 2.0]},
                       {"tags": ["a", "b"]}]})");
  ASSERT_EQ(examples.size(), 2u);
  const auto& first = examples[0].features().feature();
  EXPECT_EQ(first.at("x").float_list().value(0), 1.5f);  // the example's own x wins
  EXPECT_EQ(first.at("ids").int64_list().value_size(), 2);
  EXPECT_EQ(first.at("flag").int64_list().value(0), 1);
  EXPECT_EQ(first.at("raw").bytes_list().value(0), "hi");
  EXPECT_EQ(first.at("v").float_list().value(1), 2.0f);
  EXPECT_EQ(first.at("lang").bytes_list().value(0), "en");
  const auto& second = examples[1].features().feature();
  EXPECT_EQ(second.at("x").float_list().value(0), 9.0f);  // from the context
  EXPECT_EQ(second.at("tags").bytes_list().value(1), "b");
}

TEST(ClassifyRegressTest, BadBodiesAreInvalidArgumentNamingTheFeature) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"examples": []})", "non-empty list"},
      {R"({"context": {"x": 1.0}})", "non-empty list"},
      {R"({"examples": [{"x": [1, "a"]}]})", "example 0, feature 'x'"},
      {R"({"examples": [{}, {"x": {"y": 1}}]})", "example 1, feature 'x'"},
      {R"({"examples": [{"x": {"b64": 5}}]})", "needs a base64 string"},
      {R"({"context": [1], "examples": [{}]})", "context must be an object"},
  };
  for (const auto& [body, message] : cases) {
    auto json = ParseJson(body);
    ASSERT_TRUE(json.ok()) << body;
    auto serialized = SerializedExamplesFromJson(*json);
    EXPECT_EQ(serialized.status().code(), StatusCode::kInvalidArgument) << body;
    EXPECT_NE(serialized.status().message().find(message), std::string::npos)
        << body << " → " << serialized.status();
  }
}

}  // namespace
}  // namespace shardtrain::serving
