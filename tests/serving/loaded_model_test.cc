// The serving runtime on real TensorFlow-written SavedModels
// (shared/testdata/tf): TF1 graphs with reference and resource variables load
// and compute what their README records; TF2 function graphs and other tag
// sets are refused naming why; shape errors name the node; bad directories
// are clear errors.
#include "proto/tf/example.pb.h"
#include "serving/loaded_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace shardtrain::serving {
namespace {

std::string Tf(const std::string& name) {
  return std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/tf/" + name;
}

bool HaveTestdata() { return std::filesystem::exists(Tf("README.md")); }

Tensor Vector(std::vector<float> values) {
  Tensor t = Tensor::Floats({static_cast<int64_t>(values.size())});
  t.f = std::move(values);
  return t;
}

TEST(LoadedModelTest, HalfPlusTwoFamilyComputesTheRecordedValues) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  const std::vector<std::pair<std::string, float>> models = {
      {"serving_saved_model_half_plus_two_cpu/00000123", 2.0f},
      {"serving_saved_model_half_plus_two_2_versions/00000123", 2.0f},
      {"serving_saved_model_half_plus_two_2_versions/00000124", 2.0f},
      {"serving_saved_model_half_plus_three/00000123", 3.0f},
  };
  for (const auto& [dir, offset] : models) {
    SCOPED_TRACE(dir);
    auto model = LoadedModel::Load(Tf(dir));
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_EQ((*model)->signatures().count("serving_default"), 1u);
    auto out = (*model)->Run("serving_default", {{"x", Vector({1.0f, 2.0f, 5.0f})}});
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor& y = out->at("y");
    EXPECT_EQ(y.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(y.f, (std::vector<float>{0.5f + offset, 1.0f + offset, 2.5f + offset}));
  }
}

// Signature(key) is the REST endpoints' lookup: a usable signature, else the
// "not found in signature def" InvalidArgument.
TEST(LoadedModelTest, SignatureFindsUsableSignaturesAndNamesUnknownOnes) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  auto model = LoadedModel::Load(Tf("serving_saved_model_half_plus_two_cpu/00000123"));
  ASSERT_TRUE(model.ok()) << model.status();
  auto found = (*model)->Signature("serving_default");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, &(*model)->signatures().at("serving_default"));
  auto unknown = (*model)->Signature("nope");
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(),
            "Serving signature name: \"nope\" not found in signature def");
}

// half_plus_two's classify/regress signatures parse serialized tf.Example
// (ParseExample): they are served, and a missing required feature is named.
TEST(LoadedModelTest, ParseExampleSignaturesAreServed) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  auto model = LoadedModel::Load(Tf("serving_saved_model_half_plus_two_cpu/00000123"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->unavailable_signatures().empty());
  ASSERT_EQ((*model)->signatures().count("regress_x_to_y"), 1u);
  tf::Example example;
  (*example.mutable_features()->mutable_feature())["x"].mutable_float_list()->add_value(3.0f);
  Tensor serialized = Tensor::String(example.SerializeAsString());
  serialized.shape = {1};
  auto regress = (*model)->Run("regress_x_to_y", {{"inputs", serialized}});
  ASSERT_TRUE(regress.ok()) << regress.status();
  EXPECT_EQ(regress->at("outputs").f, std::vector<float>{3.5f});
  serialized.s = {tf::Example().SerializeAsString()};
  auto missing_feature = (*model)->Run("regress_x_to_y", {{"inputs", serialized}});
  EXPECT_EQ(missing_feature.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing_feature.status().message().find("example 0, feature 'x' is required"),
            std::string::npos)
      << missing_feature.status();
  EXPECT_EQ((*model)->Run("nope", {}).status().code(), StatusCode::kNotFound);
  auto missing = (*model)->Run("serving_default", {});
  EXPECT_NE(missing.status().message().find("needs input 'x'"), std::string::npos);
  // A matrix input works too (the placeholder's declared shape is not enforced).
  Tensor m = Tensor::Floats({2, 2});
  m.f = {1, 2, 3, 4};
  auto out = (*model)->Run("serving_default", {{"x", m}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->at("y").f, (std::vector<float>{2.5f, 3.0f, 3.5f, 4.0f}));
}

TEST(LoadedModelTest, CounterKeepsStateAcrossRuns) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  auto model = LoadedModel::Load(Tf("serving_saved_model_counter/00000123"));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->Run("get_counter", {})->at("output").f, std::vector<float>{0.0f});
  (*model)->Run("incr_counter", {}).status().IgnoreError();
  EXPECT_EQ((*model)->Run("incr_counter", {})->at("output").f, std::vector<float>{2.0f});
  Tensor delta = Tensor::Scalar(3.0f);
  EXPECT_EQ((*model)->Run("incr_counter_by", {{"delta", delta}})->at("output").f,
            std::vector<float>{5.0f});
  EXPECT_EQ((*model)->Run("reset_counter", {})->at("output").f, std::vector<float>{0.0f});
}

TEST(LoadedModelTest, UnsupportedGraphsAndBadDirectoriesAreNamed) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  // The MKL variant routes serving_default through Conv2D and StridedSlice:
  // we run Conv2D but not StridedSlice, so the model loads (another signature
  // runs) and serving_default is unavailable, naming the op.
  auto mkl = LoadedModel::Load(Tf("serving_saved_model_half_plus_two_mkl/00000123"));
  ASSERT_TRUE(mkl.ok()) << mkl.status();
  auto serving_default = (*mkl)->Signature("serving_default");
  ASSERT_FALSE(serving_default.ok());
  EXPECT_EQ(serving_default.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(serving_default.status().message().find("StridedSlice (node 'strided_slice')"),
            std::string::npos)
      << serving_default.status();
  auto tf2 = LoadedModel::Load(Tf("serving_saved_model_half_plus_two_tf2_cpu/00000123"));
  ASSERT_FALSE(tf2.ok());
  EXPECT_EQ(tf2.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(tf2.status().message().find("StatefulPartitionedCall"), std::string::npos) << tf2.status();
  auto keras = LoadedModel::Load(Tf("rust_keras_single_input_saved_model"));
  EXPECT_NE(keras.status().message().find("StatefulPartitionedCall"), std::string::npos);
  auto tags = LoadedModel::Load(Tf("rust_regression_model"));
  EXPECT_NE(tags.status().message().find("no MetaGraphDef tagged {serve} (it has {serve, train})"),
            std::string::npos)
      << tags.status();
  const std::string dir = ::testing::TempDir() + "/bad_saved_model";
  std::filesystem::create_directories(dir);
  EXPECT_EQ(LoadedModel::Load(dir).status().code(), StatusCode::kNotFound);
  std::ofstream(dir + "/saved_model.pb") << "not a protobuf \xff\xff\xff";
  EXPECT_EQ(LoadedModel::Load(dir).status().code(), StatusCode::kDataLoss);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shardtrain::serving
