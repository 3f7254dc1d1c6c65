// Deeply nested or mistyped JSON through the Keras import entry points
// (ModelConfigFromKerasJson, ReadKerasFile's .keras config.json and legacy
// .h5 model_config, OptimizerFromKerasFile, a custom layer's config_json) is an error or is
// ignored, never a stack overflow or an uncaught exception. 100k levels are refused before parsing,
// so each case takes milliseconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/backend.h"
#include "storage/keras/json_nesting.h"
#include "storage/keras/keras_files.h"
#include "worker/model/keras_json.h"
#include "worker/model/model.h"
#include "worker/optimizer/keras_optimizer_read.h"

namespace shardtrain::model {
namespace {

using storage::keras::KerasModelFile;

constexpr int kDeep = 100000;

std::string NestedArrays(int depth) {
  return std::string(static_cast<size_t>(depth), '[') +
         std::string(static_cast<size_t>(depth), ']');
}

// A Functional model whose Dense layer's Keras 3 inbound node carries
// `kwargs` (Dense reads the InputLayer, as Keras writes it).
std::string FunctionalWithKwargs(const std::string& kwargs) {
  const std::string input_tensor =
      R"({"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}})";
  return R"({"class_name": "Functional", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 3]},
     "inbound_nodes": []},
    {"class_name": "Dense", "config": {"name": "d", "units": 2},
     "inbound_nodes": [{"args": [)" +
         input_tensor + R"(], "kwargs": )" + kwargs + R"(}]}]}})";
}

// Per process: ctest runs the cases as concurrent processes.
std::string TempPath(const std::string& name) {
  return testing::TempDir() + "/keras_json_nesting_" + std::to_string(getpid()) + "_" + name;
}

TEST(KerasJsonNestingTest, CheckCountsBracketsOutsideStringsOnly) {
  using storage::keras::CheckJsonNesting;
  EXPECT_TRUE(CheckJsonNesting(NestedArrays(3), 3, "x").ok());
  EXPECT_EQ(CheckJsonNesting(NestedArrays(4), 3, "x").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckJsonNesting(R"({"a": "[[[[\"[[[[", "b": [{}]})", 3, "x").ok());
  EXPECT_EQ(CheckJsonNesting(R"({"a": "\\", "b": [[]]})", 2, "x").code(),
            StatusCode::kInvalidArgument);  // an escaped backslash ends the escape
}

TEST(KerasJsonNestingTest, DeepDocumentIsInvalidArgument) {
  for (const std::string& text :
       {NestedArrays(kDeep),
        R"({"class_name": "Sequential", "config": )" + NestedArrays(kDeep) + "}",
        std::string(kDeep, '{')}) {
    auto config = ModelConfigFromKerasJson(text, "deep.json");
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find("deep.json: JSON nested deeper than 64 levels"),
              std::string::npos)
        << config.status();
  }
}

TEST(KerasJsonNestingTest, DeepKwargsIsInvalidArgument) {
  std::string kwargs = R"({"training": )" + NestedArrays(kDeep) + "}";
  auto config = ModelConfigFromKerasJson(FunctionalWithKwargs(kwargs), "kwargs.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
}

TEST(KerasJsonNestingTest, DeepFieldValueIsInvalidArgument) {
  const std::string text = R"({"class_name": "Sequential", "config": {"layers": [
    {"class_name": "Dense", "config": {"batch_input_shape": [null, 3], "units": )" +
                           NestedArrays(kDeep) + "}}]}}";
  auto config = ModelConfigFromKerasJson(text, "units.json");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
}

TEST(KerasJsonNestingTest, KwargsWalkFindsTensorsAtAnyAllowedDepth) {
  const std::string tensor =
      R"({"class_name": "__keras_tensor__", "config": {"keras_history": ["in", 0, 0]}})";
  const int depth = 50;  // below the limit with the 7 levels above kwargs
  std::string nested = std::string(depth, '[') + tensor + std::string(depth, ']');
  auto with_tensor =
      ModelConfigFromKerasJson(FunctionalWithKwargs(R"({"mask": )" + nested + "}"), "kwargs.json");
  ASSERT_FALSE(with_tensor.ok());
  EXPECT_EQ(with_tensor.status().code(), StatusCode::kUnimplemented) << with_tensor.status();
  EXPECT_NE(with_tensor.status().message().find("keyword argument"), std::string::npos);

  auto without = ModelConfigFromKerasJson(
      FunctionalWithKwargs(R"({"mask": )" + NestedArrays(depth) + "}"), "kwargs.json");
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->layers_size(), 1);
}

// A custom layer's config_json is written into Keras files (recursively):
// refused when the model is built, before the layer class is even looked up.
TEST(KerasJsonNestingTest, DeepCustomLayerConfigIsInvalidArgument) {
  config::ModelConfig config;
  config.add_input_shape(4);
  config::CustomLayer* custom = config.add_layers()->mutable_custom();
  custom->set_registered_name("test_pkg>Unregistered");
  custom->set_config_json(NestedArrays(kDeep));
  auto model = Model::Create(config, 2, kernels::SharedCpuBackend());
  ASSERT_EQ(model.status().code(), StatusCode::kInvalidArgument) << model.status();
  EXPECT_NE(model.status().message().find("custom.config_json: JSON nested deeper than 64"),
            std::string::npos)
      << model.status();
}

TEST(KerasJsonNestingTest, DeepKerasArchiveConfigIsInvalidArgument) {
  const std::string path = TempPath("deep.keras");
  KerasModelFile model;
  model.model_config_json =
      R"({"class_name": "Sequential", "config": )" + NestedArrays(kDeep) + "}";
  ASSERT_TRUE(storage::keras::WriteKerasArchive(path, model).ok());
  auto read = storage::keras::ReadKerasFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read.status().message().find("(config.json): JSON nested deeper than 64"),
            std::string::npos)
      << read.status();
}

TEST(KerasJsonNestingTest, DeepLegacyModelConfigIsInvalidArgument) {
  const std::string path = TempPath("deep.h5");
  KerasModelFile model;
  model.model_config_json = NestedArrays(kDeep);
  ASSERT_TRUE(storage::keras::WriteLegacyH5(path, model).ok());
  auto read = storage::keras::ReadKerasFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read.status().message().find("(model_config): JSON nested deeper than 64"),
            std::string::npos)
      << read.status();
}

// The config scans of the .keras reader skip mistyped fields instead of
// throwing nlohmann's type_error.
TEST(KerasJsonNestingTest, MistypedKerasArchiveConfigDoesNotThrow) {
  const std::string path = TempPath("mistyped.keras");
  KerasModelFile model;
  model.model_config_json =
      R"({"class_name": 5, "config": {"layers": [{"class_name": 7, "config": {"name": 3}}]}})";
  ASSERT_TRUE(storage::keras::WriteKerasArchive(path, model).ok());
  auto read = storage::keras::ReadKerasFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->model_config_json, model.model_config_json);
  auto config = ModelConfigFromKerasJson(read->model_config_json, "mistyped");
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
}

// nlohmann 3.11 (Debian 12) parses and destroys nesting iteratively, so the
// optimizer reader, which looks two levels down, parses without a bound.
TEST(KerasJsonNestingTest, MillionLevelsParseAndFreeWithoutOverflow) {
  {
    const nlohmann::json parsed = nlohmann::json::parse(NestedArrays(1000000), nullptr, false);
    EXPECT_TRUE(parsed.is_array());
  }
  const std::string deep = NestedArrays(kDeep);
  auto optimizer = optimizer::OptimizerFromKerasFile(deep, deep);
  EXPECT_EQ(optimizer.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace shardtrain::model
