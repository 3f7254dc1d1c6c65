// Tests for data::LoadUnlabeledSplit (the loader `shardtrain predict` uses):
// examples need no `label` (a present one is ignored, even out of range), and
// the image errors of LoadSplit still apply, naming the record.
#include <gtest/gtest.h>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"
#include "worker/data/dataset.h"

namespace shardtrain::data {
namespace {

using testing::TempDir;

// A pixel as the default feature spec decodes it (pixel / 255).
float Scaled(uint8_t pixel) { return static_cast<float>(pixel) * (1.0f / 255.0f); }
std::vector<float> Scaled(const std::vector<uint8_t>& pixels) {
  std::vector<float> values;
  for (uint8_t pixel : pixels) values.push_back(Scaled(pixel));
  return values;
}

void WriteTestShard(const std::string& dir, const std::vector<std::string>& records) {
  auto writer = storage::TfRecordWriter::Open(dir + "/test-00000-of-00001.tfrecord");
  ASSERT_TRUE(writer.ok());
  for (const auto& record : records) ASSERT_TRUE((*writer)->Write(record).ok());
  ASSERT_TRUE((*writer)->Close().ok());
}

std::string ImageExample(const std::string& pixels, std::optional<int64_t> label) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  features["image"].mutable_bytes_list()->add_value(pixels);
  if (label) features["label"].mutable_int64_list()->add_value(*label);
  return example.SerializeAsString();
}

TEST(LoadUnlabeledSplitTest, LoadsImagesWithoutLabels) {
  TempDir dir;
  WriteTestShard(dir.path(), {ImageExample("\x01\x02\x03", std::nullopt),
                              ImageExample("\x04\x05\x06", 99), ImageExample("\x07\x08\x09", -1)});
  auto data = LoadUnlabeledSplit(dir.path(), "test", 0);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_examples, 3);
  EXPECT_EQ(data->feature_size, 3);
  EXPECT_EQ(data->features, Scaled({1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(data->labels.empty());
  EXPECT_EQ(data->shard_sizes, (std::vector<int64_t>{3}));
  auto first = LoadUnlabeledSplit(dir.path(), "test", 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->num_examples, 2);
  // The labelled loader still requires labels.
  EXPECT_EQ(LoadSplit(dir.path(), "test", 0, 10).status().code(), StatusCode::kInvalidArgument);
}

TEST(LoadUnlabeledSplitTest, ImageErrorsNameTheRecord) {
  TempDir dir;
  tf::Example no_image;
  (*no_image.mutable_features()->mutable_feature())["label"].mutable_int64_list()->add_value(1);
  WriteTestShard(dir.path(), {ImageExample("ab", std::nullopt), no_image.SerializeAsString(),
                              std::string("\xff\xff\xff", 3)});
  const Status missing = LoadUnlabeledSplit(dir.path(), "test", 0).status();
  EXPECT_EQ(missing.code(), StatusCode::kInvalidArgument) << missing;
  EXPECT_NE(missing.message().find("test-00000-of-00001.tfrecord, record 1: feature 'image' is "
                                   "missing"),
            std::string::npos)
      << missing;

  TempDir damaged;
  WriteTestShard(damaged.path(), {std::string("\xff\xff\xff", 3)});
  EXPECT_EQ(LoadUnlabeledSplit(damaged.path(), "test", 0).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadUnlabeledSplit(damaged.path(), "test", -1).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shardtrain::data
