// Tests for worker/data/prepare and worker/data/dataset: synthetic idx files ->
// TFRecord shards -> LoadSplit returns exactly the pixels and labels, and every
// documented error of both.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/worker/idx_test_util.h"
#include "worker/data/dataset.h"
#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;
using testing::SyntheticLabel;
using testing::SyntheticPixel;

// A pixel as the default feature spec decodes it (pixel / 255).
float Scaled(uint8_t pixel) { return static_cast<float>(pixel) * (1.0f / 255.0f); }
std::vector<float> Scaled(const std::vector<uint8_t>& pixels) {
  std::vector<float> values;
  for (uint8_t pixel : pixels) values.push_back(Scaled(pixel));
  return values;
}
using testing::TempDir;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void ExpectError(const Status& status, StatusCode code, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status;
  for (const auto& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos)
        << "'" << needle << "' in " << status;
  }
}

// Prepared synthetic data: 10 train and 4 test examples in 3 shards.
class PreparedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteSyntheticFashionMnist(source_.path(), 10, 4);
    out_ = source_.path() + "/out/nested";  // created by PrepareFashionMnist
    std::ostringstream log;
    ASSERT_TRUE(PrepareFashionMnist(source_.path(), out_, 3, &log).ok());
    log_ = log.str();
  }
  TempDir source_;
  std::string out_;
  std::string log_;
};

TEST_F(PreparedTest, WritesNamedShardsWithContiguousNearEqualSplits) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(out_)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "test-00000-of-00003.tfrecord", "test-00001-of-00003.tfrecord",
                       "test-00002-of-00003.tfrecord", "train-00000-of-00003.tfrecord",
                       "train-00001-of-00003.tfrecord", "train-00002-of-00003.tfrecord"}));
  const std::vector<size_t> train_sizes = {3, 3, 4};  // [0,3) [3,6) [6,10)
  const std::vector<size_t> test_sizes = {1, 1, 2};   // [0,1) [1,2) [2,4)
  for (int shard = 0; shard < 3; ++shard) {
    auto train = storage::ReadTfRecordFile(out_ + "/" + ShardFileName("train", shard, 3));
    ASSERT_TRUE(train.ok()) << train.status();
    EXPECT_EQ(train->size(), train_sizes[shard]);
    auto test = storage::ReadTfRecordFile(out_ + "/" + ShardFileName("test", shard, 3));
    ASSERT_TRUE(test.ok()) << test.status();
    EXPECT_EQ(test->size(), test_sizes[shard]);
  }
  EXPECT_NE(log_.find("train-00002-of-00003.tfrecord (4 examples)"), std::string::npos) << log_;
}

TEST_F(PreparedTest, RecordsAreExamplesWithImageBytesAndInt64Label) {
  auto records = storage::ReadTfRecordFile(out_ + "/train-00001-of-00003.tfrecord");
  ASSERT_TRUE(records.ok());
  tf::Example example;
  ASSERT_TRUE(example.ParseFromString((*records)[0]));  // example 3
  const auto& features = example.features().feature();
  EXPECT_EQ(features.size(), 2u);
  const tf::Feature& image = features.at("image");
  ASSERT_EQ(image.kind_case(), tf::Feature::kBytesList);
  ASSERT_EQ(image.bytes_list().value_size(), 1);
  const std::string& pixels = image.bytes_list().value(0);
  ASSERT_EQ(pixels.size(), 784u);
  EXPECT_EQ(static_cast<uint8_t>(pixels[27 * 28 + 1]), SyntheticPixel(3, 27, 1));
  const tf::Feature& label = features.at("label");
  ASSERT_EQ(label.kind_case(), tf::Feature::kInt64List);
  ASSERT_EQ(label.int64_list().value_size(), 1);
  EXPECT_EQ(label.int64_list().value(0), SyntheticLabel(3));
}

TEST_F(PreparedTest, OutputIsDeterministic) {
  const std::string again = source_.path() + "/again";
  ASSERT_TRUE(PrepareFashionMnist(source_.path(), again, 3, nullptr).ok());
  for (const char* name : {"train-00000-of-00003.tfrecord", "test-00002-of-00003.tfrecord"}) {
    EXPECT_EQ(ReadBytes(out_ + "/" + name), ReadBytes(again + "/" + name)) << name;
  }
}

TEST_F(PreparedTest, LoadSplitReturnsExactPixelsAndLabels) {
  auto train = LoadSplit(out_, "train", 0, 10);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->num_examples, 10);
  EXPECT_EQ(train->feature_size, 784);
  ASSERT_EQ(train->features.size(), 10u * 784u);
  ASSERT_EQ(train->labels.size(), 10u);
  EXPECT_EQ(train->shard_sizes, (std::vector<int64_t>{3, 3, 4}));
  for (int64_t i = 0; i < 10; ++i) {
    EXPECT_EQ(train->labels[i], SyntheticLabel(i)) << i;
    for (int64_t r = 0; r < 28; ++r) {
      for (int64_t c = 0; c < 28; ++c) {
        ASSERT_EQ(train->features[i * 784 + r * 28 + c], Scaled(SyntheticPixel(i, r, c)))
            << "example " << i << " pixel " << r << "," << c;
      }
    }
  }
  auto test = LoadSplit(out_, "test", 0, 10);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->num_examples, 4);
  EXPECT_EQ(test->labels, (std::vector<int32_t>{1, 4, 7, 0}));
  EXPECT_EQ(test->features[3 * 784 + 100], Scaled(SyntheticPixel(3, 100 / 28, 100 % 28)));
}

TEST_F(PreparedTest, MaxExamplesKeepsThePrefix) {
  for (int64_t max : {1, 4, 6, 10, 1000}) {
    auto data = LoadSplit(out_, "train", max, 10);
    ASSERT_TRUE(data.ok()) << data.status();
    const int64_t expected = std::min<int64_t>(max, 10);
    EXPECT_EQ(data->num_examples, expected);
    ASSERT_EQ(data->labels.size(), static_cast<size_t>(expected));
    ASSERT_EQ(data->features.size(), static_cast<size_t>(expected * 784));
    EXPECT_EQ(data->labels.back(), SyntheticLabel(expected - 1));
    int64_t shard_total = 0;
    for (int64_t size : data->shard_sizes) shard_total += size;
    EXPECT_EQ(shard_total, expected) << "max " << max;
    EXPECT_EQ(data->features.back(), Scaled(SyntheticPixel(expected - 1, 27, 27)));
  }
  ExpectError(LoadSplit(out_, "train", -1, 10).status(), StatusCode::kInvalidArgument,
              {"max_examples"});
}

TEST_F(PreparedTest, MissingShardIsNamed) {
  fs::remove(out_ + "/train-00001-of-00003.tfrecord");
  ExpectError(LoadSplit(out_, "train", 0, 10).status(), StatusCode::kNotFound,
              {"'train-00001-of-00003.tfrecord' is missing", "found 2 of 3", out_});
}

TEST_F(PreparedTest, MixedShardCountsAreRejected) {
  fs::copy_file(out_ + "/train-00000-of-00003.tfrecord", out_ + "/train-00000-of-00002.tfrecord");
  ExpectError(LoadSplit(out_, "train", 0, 10).status(), StatusCode::kInvalidArgument,
              {"mixes shard sets of train with 2 and 3 shards"});
}

TEST_F(PreparedTest, LabelOutsideClassesNamesRecord) {
  // Labels of train examples 0..: 1 4 7 0 3 6 9 ...; with 5 classes example 2
  // (shard 0, record 2) is the first out of range.
  ExpectError(
      LoadSplit(out_, "train", 0, 5).status(), StatusCode::kInvalidArgument,
      {out_ + "/train-00000-of-00003.tfrecord, record 2: label 'label': class id 7",
       "outside [0, 5)", "set data.num_classes"});
  ExpectError(LoadSplit(out_, "train", 0, 0).status(), StatusCode::kInvalidArgument,
              {"num_classes"});
}

TEST_F(PreparedTest, CorruptShardIsDataLossWithPrepareHint) {
  const std::string path = out_ + "/train-00002-of-00003.tfrecord";
  std::string bytes = ReadBytes(path);
  const size_t record_size = bytes.size() / 4;  // 4 equal-size records
  bytes[record_size + 12 + 100] ^= 0x10;        // a pixel of record 1
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  ExpectError(LoadSplit(out_, "train", 0, 10).status(), StatusCode::kDataLoss,
              {"corrupted record 1 at byte offset " + std::to_string(record_size) + " in '" + path +
                   "': data CRC mismatch",
               "the file is damaged — re-create it with `shardtrain data prepare`"});
  // Loading stops before the damaged shard when max_examples allows.
  EXPECT_TRUE(LoadSplit(out_, "train", 6, 10).ok());
  // Truncated: the writer-crash case.
  bytes = ReadBytes(out_ + "/train-00001-of-00003.tfrecord");
  std::ofstream(out_ + "/train-00001-of-00003.tfrecord", std::ios::binary | std::ios::trunc)
      << bytes.substr(0, bytes.size() - 5);
  ExpectError(LoadSplit(out_, "train", 0, 10).status(), StatusCode::kDataLoss,
              {"truncated record 2 at byte offset", "train-00001-of-00003.tfrecord"});
}

TEST(LoadSplitTest, NoShardsIsNotFoundWithPrepareHint) {
  TempDir dir;
  ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kNotFound,
              {"no 'train-NNNNN-of-NNNNN.tfrecord' shards in '" + dir.path() + "'",
               "shardtrain data prepare --dataset fashion_mnist --output " + dir.path()});
  ExpectError(LoadSplit(dir.File("absent"), "train", 0, 10).status(), StatusCode::kNotFound,
              {"does not exist", "shardtrain data prepare"});
}

// Writes one shard `train-00000-of-00001.tfrecord` holding `examples`.
void WriteShard(const std::string& dir, const std::vector<tf::Example>& examples) {
  auto writer = storage::TfRecordWriter::Open(dir + "/train-00000-of-00001.tfrecord");
  ASSERT_TRUE(writer.ok());
  for (const auto& example : examples) {
    ASSERT_TRUE((*writer)->Write(example.SerializeAsString()).ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
}

tf::Example MakeExample(const std::string& pixels, int64_t label) {
  tf::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  features["image"].mutable_bytes_list()->add_value(pixels);
  features["label"].mutable_int64_list()->add_value(label);
  return example;
}

TEST(LoadSplitTest, AcceptsUserShardsWithExtraFeatures) {
  TempDir dir;
  tf::Example a = MakeExample("\x01\x02\x03\x04", 2);
  (*a.mutable_features()->mutable_feature())["id"].mutable_bytes_list()->add_value("a");
  WriteShard(dir.path(), {a, MakeExample("\x05\x06\x07\x08", 0)});
  auto data = LoadSplit(dir.path(), "train", 0, 3);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->feature_size, 4);
  EXPECT_EQ(data->features, Scaled({1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(data->labels, (std::vector<int32_t>{2, 0}));
}

TEST(LoadSplitTest, ImageSizeMismatchNamesRecord) {
  TempDir dir;
  WriteShard(dir.path(),
             {MakeExample(std::string(784, 'a'), 1), MakeExample(std::string(784, 'b'), 1),
              MakeExample(std::string(783, 'c'), 1)});
  ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kInvalidArgument,
              {dir.path() + "/train-00000-of-00001.tfrecord, record 2: feature 'image': "
               "expected a bytes_list with one value of 784 bytes, got 783 bytes"});
}

TEST(LoadSplitTest, MissingOrIllTypedFeaturesNameRecord) {
  const std::string shard = "/train-00000-of-00001.tfrecord";
  {
    TempDir dir;
    tf::Example no_image;
    (*no_image.mutable_features()->mutable_feature())["label"].mutable_int64_list()->add_value(1);
    WriteShard(dir.path(), {MakeExample("xy", 1), no_image});
    ExpectError(
        LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kInvalidArgument,
        {dir.path() + shard + ", record 1: feature 'image' is missing (the example has: 'label')"});
  }
  {
    TempDir dir;
    tf::Example no_label;
    (*no_label.mutable_features()->mutable_feature())["image"].mutable_bytes_list()->add_value(
        "xy");
    WriteShard(dir.path(), {no_label});
    ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kInvalidArgument,
                {"record 0: label 'label' is missing (the example has: 'image')"});
  }
  {
    TempDir dir;
    tf::Example float_label = MakeExample("xy", 0);
    (*float_label.mutable_features()->mutable_feature())["label"].mutable_float_list()->add_value(
        1);
    WriteShard(dir.path(), {float_label});
    ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kInvalidArgument,
                {"record 0: label 'label': expected an int64_list with one value",
                 "found a float_list"});
  }
  {
    TempDir dir;
    tf::Example two_images = MakeExample("xy", 0);
    (*two_images.mutable_features()->mutable_feature())["image"].mutable_bytes_list()->add_value(
        "zw");
    WriteShard(dir.path(), {two_images});
    ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kInvalidArgument,
                {"feature 'image': expected a bytes_list with one value", "found 2 values"});
  }
  {
    TempDir dir;
    tf::Example int_image;
    auto& f = *int_image.mutable_features()->mutable_feature();
    f["image"].mutable_int64_list()->add_value(3);
    f["label"].mutable_int64_list()->add_value(0);
    WriteShard(dir.path(), {int_image});
    ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kInvalidArgument,
                {"feature 'image': expected a bytes_list", "found an int64_list"});
  }
}

TEST(LoadSplitTest, NonExampleRecordIsDataLoss) {
  TempDir dir;
  auto writer = storage::TfRecordWriter::Open(dir.File("train-00000-of-00001.tfrecord"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Write("\xff\xff\xff not a protobuf").ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ExpectError(LoadSplit(dir.path(), "train", 0, 10).status(), StatusCode::kDataLoss,
              {"train-00000-of-00001.tfrecord, record 0: not a valid tf.train.Example"});
}

TEST(PrepareTest, ErrorsNameTheFile) {
  TempDir dir;
  // Missing source files.
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out"), 2, nullptr), StatusCode::kNotFound,
              {dir.File("train-images-idx3-ubyte.gz"), "dataset-fashion-mnist"});
  // Bad shard counts.
  testing::WriteSyntheticFashionMnist(dir.path(), 10, 4);
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out"), 0, nullptr),
              StatusCode::kInvalidArgument, {"number of shards"});
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out"), 5, nullptr),
              StatusCode::kInvalidArgument,
              {"--num-shards 5 exceeds the 4 examples of the test split"});
  // Output path below a regular file: cannot be created.
  testing::WriteFile(dir.File("plain"), "x", /*gzip=*/false);
  const Status status = PrepareFashionMnist(dir.path(), dir.File("plain/out"), 2, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);  // ENOTDIR
  EXPECT_NE(status.message().find("cannot create output directory '" + dir.File("plain/out") + "'"),
            std::string::npos)
      << status;
  // Count mismatch between images and labels.
  testing::WriteFile(dir.File("t10k-labels-idx1-ubyte.gz"), testing::IdxLabelsBytes({1, 2, 3}));
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out2"), 2, nullptr),
              StatusCode::kInvalidArgument,
              {"count mismatch", dir.File("t10k-images-idx3-ubyte.gz") + "' holds 4 images",
               dir.File("t10k-labels-idx1-ubyte.gz") + "' holds 3 labels"});
  // A label that is not a Fashion-MNIST class.
  testing::WriteFile(dir.File("t10k-labels-idx1-ubyte.gz"), testing::IdxLabelsBytes({1, 2, 3, 10}));
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out3"), 2, nullptr),
              StatusCode::kInvalidArgument, {"label 3 is 10"});
}

// The probe of issue 24: a header declaring another image size (same byte
// count: 56x14 instead of 28x28) was accepted.
TEST(PrepareTest, ImagesOtherThan28x28AreDataLoss) {
  TempDir dir;
  testing::WriteSyntheticFashionMnist(dir.path(), 4, 2);
  testing::WriteFile(dir.File("train-images-idx3-ubyte.gz"),
                     testing::IdxImagesBytes(4, 56, 14, testing::SyntheticPixels(4)));
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out"), 1, nullptr), StatusCode::kDataLoss,
              {dir.File("train-images-idx3-ubyte.gz") + "' declares images of 56x14 pixels",
               "Fashion-MNIST images are 28x28"});
}

// The probe of issue 24: trailing garbage and a .gz name on an uncompressed
// file reach `data prepare` as DataLoss naming the file.
TEST(PrepareTest, TrailingGarbageAndUncompressedGzAreDataLoss) {
  TempDir dir;
  testing::WriteSyntheticFashionMnist(dir.path(), 4, 2);
  const std::string labels = dir.File("t10k-labels-idx1-ubyte.gz");
  testing::WriteFile(labels, ReadBytes(labels) + std::string(10, '\0'), /*gzip=*/false);
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out"), 1, nullptr), StatusCode::kDataLoss,
              {labels, "has 10 bytes of trailing garbage after its gzip data"});
  testing::WriteFile(labels, testing::IdxLabelsBytes({1, 2}), /*gzip=*/false);
  ExpectError(PrepareFashionMnist(dir.path(), dir.File("out"), 1, nullptr), StatusCode::kDataLoss,
              {labels, "is named .gz but is not gzip-compressed"});
  testing::WriteFile(labels, testing::IdxLabelsBytes({1, 2}));
  EXPECT_TRUE(PrepareFashionMnist(dir.path(), dir.File("out"), 1, nullptr).ok());
}

TEST(PrepareTest, NoTemporaryFilesRemain) {
  TempDir dir;
  testing::WriteSyntheticFashionMnist(dir.path(), 7, 3);
  ASSERT_TRUE(PrepareFashionMnist(dir.path(), dir.File("out"), 3, nullptr).ok());
  for (const auto& entry : fs::directory_iterator(dir.File("out"))) {
    EXPECT_EQ(entry.path().extension(), ".tfrecord") << entry.path();
  }
}

}  // namespace
}  // namespace shardtrain::data
