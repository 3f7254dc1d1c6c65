// Tests for data::ExampleDecoder and the spec it resolves (feature_spec.h):
// every feature type against known values, scale/offset, concatenation, both
// label kinds, the defaults reproducing the Fashion-MNIST path bit for bit,
// and each error with its code and the feature it names.
#include "worker/data/example_decoder.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "tests/storage/jpeg_test_util.h"
#include "tests/storage/png_fixtures.h"
#include "tests/worker/idx_test_util.h"
#include "worker/data/idx_reader.h"
#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

using config::FeatureSpec;
using config::LabelSpec;

// Builds a tf.train.Example feature by feature.
class ExampleBuilder {
 public:
  ExampleBuilder& Floats(const std::string& key, const std::vector<float>& values) {
    auto* list = Feature(key).mutable_float_list();
    for (float v : values) list->add_value(v);
    return *this;
  }
  ExampleBuilder& Ints(const std::string& key, const std::vector<int64_t>& values) {
    auto* list = Feature(key).mutable_int64_list();
    for (int64_t v : values) list->add_value(v);
    return *this;
  }
  ExampleBuilder& Bytes(const std::string& key, const std::string& value) {
    Feature(key).mutable_bytes_list()->add_value(value);
    return *this;
  }
  std::string Serialize() const { return example_.SerializeAsString(); }

 private:
  tf::Feature& Feature(const std::string& key) {
    return (*example_.mutable_features()->mutable_feature())[key];
  }
  tf::Example example_;
};

FeatureSpec Spec(const std::string& key, FeatureSpec::Type type, std::vector<int64_t> shape) {
  FeatureSpec spec;
  spec.set_key(key);
  spec.set_type(type);
  for (int64_t dim : shape) spec.add_shape(dim);
  return spec;
}

config::DataConfig Config(std::vector<FeatureSpec> features, int64_t num_classes = 10) {
  config::DataConfig data;
  for (const FeatureSpec& feature : features) *data.add_features() = feature;
  data.set_num_classes(num_classes);
  return data;
}

std::string LittleEndianFloats(const std::vector<float>& values) {
  std::string bytes;
  for (float v : values) {
    const uint32_t bits = std::bit_cast<uint32_t>(v);
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(bits >> shift));
  }
  return bytes;
}

std::string AsString(const std::vector<uint8_t>& bytes) { return {bytes.begin(), bytes.end()}; }

ExampleDecoder MustCreate(const config::DataConfig& data, const std::vector<int64_t>& shape) {
  StatusOr<ExampleDecoder> decoder = ExampleDecoder::Create(data, shape);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return std::move(decoder).value();
}

// Decodes `record` and returns the status; features land in `*out`.
Status DecodeInto(const ExampleDecoder& decoder, const std::string& record, std::vector<float>* out,
                  int32_t* class_id = nullptr) {
  out->assign(static_cast<size_t>(decoder.feature_size()), -1.0f);
  return decoder.Decode(record, out->data(), class_id, nullptr);
}

TEST(ExampleDecoderTest, FloatAndInt64ListsWithScaleAndOffset) {
  FeatureSpec floats = Spec("x", FeatureSpec::FLOAT_LIST, {2, 2});
  FeatureSpec ints = Spec("n", FeatureSpec::INT64_LIST, {3});
  ints.set_scale(0.5f);
  ints.set_offset(-1.0f);
  const ExampleDecoder decoder = MustCreate(Config({floats, ints}), {7});
  const std::string record = ExampleBuilder()
                                 .Floats("x", {1.5f, -2.0f, 0.0f, 1e30f})
                                 .Ints("n", {4, -6, int64_t{1} << 40})
                                 .Ints("label", {3})
                                 .Serialize();
  std::vector<float> out;
  int32_t label = -1;
  ASSERT_TRUE(DecodeInto(decoder, record, &out, &label).ok());
  const float big = static_cast<float>(int64_t{1} << 40) * 0.5f - 1.0f;
  EXPECT_EQ(out, (std::vector<float>{1.5f, -2.0f, 0.0f, 1e30f, 1.0f, -4.0f, big}));
  EXPECT_EQ(label, 3);
}

TEST(ExampleDecoderTest, RawUint8AndFloat32BytesConcatenated) {
  FeatureSpec pixels = Spec("pixels", FeatureSpec::BYTES_UINT8, {2, 2});
  pixels.set_scale(2.0f);
  pixels.set_offset(1.0f);
  FeatureSpec embedding = Spec("embedding", FeatureSpec::BYTES_FLOAT32, {3});
  embedding.set_offset(10.0f);
  const ExampleDecoder decoder = MustCreate(Config({pixels, embedding}), {7});
  const std::string record = ExampleBuilder()
                                 .Bytes("pixels", std::string("\x00\x01\x7f\xff", 4))
                                 .Bytes("embedding", LittleEndianFloats({0.25f, -3.0f, 1e-3f}))
                                 .Serialize();
  std::vector<float> out;
  ASSERT_TRUE(DecodeInto(decoder, record, &out).ok());
  EXPECT_EQ(out, (std::vector<float>{1.0f, 3.0f, 255.0f, 511.0f, 10.25f, 7.0f, 1e-3f + 10.0f}));
}

TEST(ExampleDecoderTest, PngAndJpegImages) {
  const storage::png_fixtures::Fixture& rgb = storage::png_fixtures::All()[1];  // 2 x 2 RGB
  ASSERT_EQ(rgb.channels, 3);
  FeatureSpec png = Spec("png", FeatureSpec::BYTES_PNG, {2, 2, 3});
  png.set_scale(1.0f / 255.0f);
  const FeatureSpec jpeg = Spec("jpeg", FeatureSpec::BYTES_JPEG, {8, 8, 1});
  const ExampleDecoder decoder = MustCreate(Config({png, jpeg}), {2 * 2 * 3 + 64});
  const std::string jpeg_bytes =
      shardtrain::testing::EncodeJpeg(std::vector<uint8_t>(64, 90), 8, 8, 1, JCS_GRAYSCALE);
  const std::string record =
      ExampleBuilder().Bytes("png", AsString(rgb.png)).Bytes("jpeg", jpeg_bytes).Serialize();
  std::vector<float> out;
  ASSERT_TRUE(DecodeInto(decoder, record, &out).ok());
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(out[i], static_cast<float>(rgb.pixels[i]) * (1.0f / 255.0f)) << i;
  }
  for (size_t i = 12; i < out.size(); ++i) EXPECT_EQ(out[i], 90.0f) << i;
}

TEST(ExampleDecoderTest, VectorLabelsFromFloatOrInt64Lists) {
  config::DataConfig data = Config({Spec("x", FeatureSpec::FLOAT_LIST, {1})});
  data.mutable_label()->set_key("target");
  data.mutable_label()->set_kind(LabelSpec::VECTOR);
  data.mutable_label()->set_size(3);
  const ExampleDecoder decoder = MustCreate(data, {1});
  EXPECT_EQ(decoder.label_width(), 3);
  float x = 0;
  std::vector<float> target(3);
  ASSERT_TRUE(
      decoder
          .Decode(ExampleBuilder().Floats("x", {1}).Floats("target", {0.1f, 0, 0.9f}).Serialize(),
                  &x, nullptr, target.data())
          .ok());
  EXPECT_EQ(target, (std::vector<float>{0.1f, 0, 0.9f}));
  ASSERT_TRUE(decoder
                  .Decode(ExampleBuilder().Floats("x", {1}).Ints("target", {0, 1, 1}).Serialize(),
                          &x, nullptr, target.data())
                  .ok());
  EXPECT_EQ(target, (std::vector<float>{0, 1, 1}));
  const Status nan =
      decoder.Decode(ExampleBuilder().Floats("x", {1}).Floats("target", {0, NAN, 0}).Serialize(),
                     &x, nullptr, target.data());
  EXPECT_EQ(nan.code(), StatusCode::kInvalidArgument) << nan;
  EXPECT_NE(nan.message().find("label 'target': value 1"), std::string::npos) << nan;
}

TEST(ExampleDecoderTest, NullTargetSkipsTheLabel) {
  const ExampleDecoder decoder = MustCreate(Config({Spec("x", FeatureSpec::FLOAT_LIST, {1})}), {1});
  float x = 0;
  EXPECT_TRUE(
      decoder.Decode(ExampleBuilder().Floats("x", {2}).Serialize(), &x, nullptr, nullptr).ok());
  EXPECT_EQ(x, 2.0f);
}

TEST(ExampleDecoderTest, DefaultsAreTheFashionMnistSchema) {
  config::DataConfig data;
  data.set_num_classes(10);
  const ExampleDecoder decoder = MustCreate(data, {28, 28, 1});
  ASSERT_EQ(decoder.features().size(), 1u);
  const FeatureSpec& image = decoder.features()[0];
  EXPECT_EQ(image.key(), "image");
  EXPECT_EQ(image.type(), FeatureSpec::BYTES_UINT8);
  EXPECT_EQ(std::vector<int64_t>(image.shape().begin(), image.shape().end()),
            (std::vector<int64_t>{28, 28, 1}));
  EXPECT_EQ(image.scale(), 1.0f / 255.0f);
  EXPECT_EQ(image.offset(), 0.0f);
  EXPECT_EQ(decoder.label().key(), "label");
  EXPECT_EQ(decoder.label().kind(), LabelSpec::CLASS_ID);
  EXPECT_EQ(decoder.feature_size(), 784);
  EXPECT_EQ(decoder.label_width(), 0);
}

// The records `shardtrain data prepare` writes decode, with the default spec,
// to exactly the floats Trainer::GatherBatch has always computed from the raw
// pixels (static_cast<float>(pixel) * (1.0f / 255.0f)), read here from the idx file.
TEST(ExampleDecoderTest, DefaultsReproduceTheFashionMnistPathBitwise) {
  const std::string source = kDefaultFashionMnistDir;
  if (!std::filesystem::exists(source + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << source << " is absent (Debian package dataset-fashion-mnist)";
  }
  StatusOr<IdxImages> images = ReadIdxImages(source + "/t10k-images-idx3-ubyte.gz");
  StatusOr<std::vector<uint8_t>> labels = ReadIdxLabels(source + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(images.ok() && labels.ok()) << images.status() << labels.status();
  testing::TempDir dir;
  ASSERT_TRUE(PrepareFashionMnist(source, dir.path(), 1, nullptr).ok());
  config::DataConfig data;
  data.set_num_classes(10);
  const ExampleDecoder decoder = MustCreate(data, {28, 28, 1});
  auto reader = storage::TfRecordReader::Open(dir.File(ShardFileName("test", 0, 1)));
  ASSERT_TRUE(reader.ok()) << reader.status();
  constexpr float kScale = 1.0f / 255.0f;  // Trainer::GatherBatch's
  std::vector<float> row(784);
  std::string record;
  size_t index = 0;
  while (*(*reader)->Next(&record)) {
    int32_t label = -1;
    ASSERT_TRUE(decoder.Decode(record, row.data(), &label, nullptr).ok());
    const uint8_t* pixels = images->pixels.data() + index * 784;
    for (size_t j = 0; j < 784; ++j) {
      const float expected = static_cast<float>(pixels[j]) * kScale;
      ASSERT_EQ(std::bit_cast<uint32_t>(row[j]), std::bit_cast<uint32_t>(expected))
          << "example " << index << " value " << j;
    }
    ASSERT_EQ(label, (*labels)[index]);
    ++index;
  }
  EXPECT_EQ(index, labels->size());
}

// Decodes `record` with `decoder` and checks the code and a piece of the message.
void ExpectError(const ExampleDecoder& decoder, const std::string& record, StatusCode code,
                 const std::string& part) {
  std::vector<float> out;
  int32_t label = 0;
  const Status status = DecodeInto(decoder, record, &out, &label);
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_NE(status.message().find(part), std::string::npos) << status;
}

TEST(ExampleDecoderTest, FeatureErrorsNameTheFeature) {
  const ExampleDecoder decoder = MustCreate(
      Config({Spec("x", FeatureSpec::FLOAT_LIST, {2}), Spec("image", FeatureSpec::BYTES_UINT8, {4}),
              Spec("e", FeatureSpec::BYTES_FLOAT32, {1})}),
      {7});
  const std::string image(4, '\x01');
  const std::string e = LittleEndianFloats({1.0f});
  auto valid = [&]() {
    return ExampleBuilder().Bytes("image", image).Bytes("e", e).Ints("label", {1});
  };
  ExpectError(decoder, valid().Serialize(), StatusCode::kInvalidArgument,
              "feature 'x' is missing (the example has: 'e', 'image', 'label')");
  ExpectError(decoder, valid().Ints("x", {1, 2}).Serialize(), StatusCode::kInvalidArgument,
              "feature 'x': expected a float_list with 2 values, found an int64_list");
  ExpectError(decoder, valid().Floats("x", {1, 2, 3}).Serialize(), StatusCode::kInvalidArgument,
              "feature 'x': expected a float_list with 2 values, found 3 values");
  ExpectError(decoder, valid().Floats("x", {1, INFINITY}).Serialize(), StatusCode::kInvalidArgument,
              "feature 'x': value 1 is inf");
  auto with_x = [&](const std::string& pixels, const std::string& floats) {
    return ExampleBuilder()
        .Floats("x", {1, 2})
        .Bytes("image", pixels)
        .Bytes("e", floats)
        .Ints("label", {1});
  };
  ExpectError(decoder, with_x(std::string(3, '\x01'), e).Serialize(), StatusCode::kInvalidArgument,
              "feature 'image': expected a bytes_list with one value of 4 bytes, got 3 bytes");
  ExpectError(decoder, with_x(image, e.substr(1)).Serialize(), StatusCode::kInvalidArgument,
              "feature 'e': expected a bytes_list with one value of 4 bytes, got 3 bytes");
  ExpectError(decoder, with_x(image, LittleEndianFloats({NAN})).Serialize(),
              StatusCode::kInvalidArgument, "feature 'e': value 0 is nan");
}

TEST(ExampleDecoderTest, LabelAndRecordErrors) {
  const ExampleDecoder decoder =
      MustCreate(Config({Spec("x", FeatureSpec::FLOAT_LIST, {1})}, 10), {1});
  auto x = []() { return ExampleBuilder().Floats("x", {1}); };
  ExpectError(decoder, x().Ints("label", {10}).Serialize(), StatusCode::kInvalidArgument,
              "label 'label': class id 10 is outside [0, 10)");
  ExpectError(decoder, x().Ints("label", {-1}).Serialize(), StatusCode::kInvalidArgument,
              "class id -1");
  ExpectError(
      decoder, x().Floats("label", {1}).Serialize(), StatusCode::kInvalidArgument,
      "label 'label': expected an int64_list with one value (a class id), found a float_list");
  ExpectError(decoder, x().Serialize(), StatusCode::kInvalidArgument, "label 'label' is missing");
  ExpectError(decoder, std::string("\xff\xff\xff", 3), StatusCode::kDataLoss,
              "not a valid tf.train.Example (3 bytes)");
}

// A record past INT_MAX bytes is refused before protobuf sees a wrapped size
// (a prefix of it could otherwise parse). The view is never read.
TEST(ExampleDecoderTest, RecordLargerThanIntMaxIsDataLoss) {
  const ExampleDecoder decoder =
      MustCreate(Config({Spec("x", FeatureSpec::FLOAT_LIST, {1})}, 10), {1});
  const std::string record = ExampleBuilder().Floats("x", {1}).Ints("label", {1}).Serialize();
  const size_t size = size_t{1} << 31;
  const std::string_view huge(record.data(), size);
  std::vector<float> features(1);
  int32_t class_id = 0;
  const Status status = decoder.Decode(huge, features.data(), &class_id, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("record of 2147483648 bytes is larger than a tf.train.Example "
                                  "can be"),
            std::string::npos)
      << status;
}

TEST(ExampleDecoderTest, ImageErrors) {
  const ExampleDecoder decoder =
      MustCreate(Config({Spec("png", FeatureSpec::BYTES_PNG, {2, 3, 1}),
                         Spec("jpg", FeatureSpec::BYTES_JPEG, {8, 8, 1})}),
                 {6 + 64});
  const std::vector<uint8_t>& gray = storage::png_fixtures::All()[0].png;  // 2 x 3 gray
  const std::string jpeg =
      shardtrain::testing::EncodeJpeg(std::vector<uint8_t>(64, 30), 8, 8, 1, JCS_GRAYSCALE);
  auto record = [&](const std::string& png, const std::string& jpg) {
    return ExampleBuilder().Bytes("png", png).Bytes("jpg", jpg).Ints("label", {0}).Serialize();
  };
  std::vector<float> out;
  int32_t label = -1;
  ASSERT_TRUE(DecodeInto(decoder, record(AsString(gray), jpeg), &out, &label).ok());
  std::string corrupt = AsString(gray);
  corrupt[corrupt.size() - 20] ^= 0x40;
  ExpectError(decoder, record(corrupt, jpeg), StatusCode::kDataLoss,
              "feature 'png': the PNG image does not decode");
  ExpectError(decoder, record(AsString(gray), jpeg.substr(0, jpeg.size() / 2)),
              StatusCode::kDataLoss, "feature 'jpg': the JPEG image does not decode");
  ExpectError(
      decoder, record(AsString(storage::png_fixtures::All()[1].png), jpeg),  // 2 x 2 RGB
      StatusCode::kInvalidArgument,
      "feature 'png': the PNG image is [2, 2, 3] (height, width, channels), expected [2, 3, 1]");
  ExpectError(decoder, record(AsString(gray), ""), StatusCode::kDataLoss, "feature 'jpg'");
}

// Create's checks: InvalidArgument naming the field.
void ExpectSpecError(const config::DataConfig& data, const std::vector<int64_t>& shape,
                     const std::string& part) {
  const StatusOr<ExampleDecoder> decoder = ExampleDecoder::Create(data, shape);
  EXPECT_EQ(decoder.status().code(), StatusCode::kInvalidArgument) << decoder.status();
  EXPECT_NE(decoder.status().message().find(part), std::string::npos) << decoder.status();
}

TEST(ExampleDecoderTest, SpecErrorsNameTheField) {
  const FeatureSpec x = Spec("x", FeatureSpec::FLOAT_LIST, {4});
  ExpectSpecError(Config({Spec("", FeatureSpec::FLOAT_LIST, {4})}), {4}, "data.features[0].key");
  ExpectSpecError(Config({Spec("x", FeatureSpec::TYPE_UNSPECIFIED, {4})}), {4},
                  "data.features[0].type");
  ExpectSpecError(Config({x, Spec("x", FeatureSpec::FLOAT_LIST, {1})}), {5},
                  "data.features[1].key: 'x' is used by an earlier feature");
  ExpectSpecError(Config({Spec("x", FeatureSpec::FLOAT_LIST, {2, 0})}), {4},
                  "data.features[0].shape: dimensions must be positive");
  ExpectSpecError(
      Config({Spec("x", FeatureSpec::FLOAT_LIST, {int64_t{1} << 40, int64_t{1} << 40})}), {4},
      "data.features[0].shape");
  ExpectSpecError(Config({Spec("x", FeatureSpec::BYTES_PNG, {2, 2, 2})}), {8},
                  "data.features[0].shape: an image needs [height, width, channels]");
  ExpectSpecError(Config({Spec("x", FeatureSpec::BYTES_JPEG, {4})}), {4}, "data.features[0].shape");
  FeatureSpec bad_scale = x;
  bad_scale.set_scale(std::numeric_limits<float>::infinity());
  ExpectSpecError(Config({bad_scale}), {4}, "data.features[0].scale");
  FeatureSpec bad_offset = x;
  bad_offset.set_offset(NAN);
  ExpectSpecError(Config({bad_offset}), {4}, "data.features[0].offset");
  ExpectSpecError(Config({x}), {5},
                  "data.features: the features have 4 values in all, but "
                  "model.input_shape has 5");
  ExpectSpecError(Config({x, Spec("y", FeatureSpec::FLOAT_LIST, {2})}), {5}, "data.features[1]");
  ExpectSpecError(Config({x}, 0), {4}, "data.num_classes");
  config::DataConfig vector = Config({x});
  vector.mutable_label()->set_kind(LabelSpec::VECTOR);
  ExpectSpecError(vector, {4}, "data.label.size");
  config::DataConfig sized_class = Config({x});
  sized_class.mutable_label()->set_size(3);
  ExpectSpecError(sized_class, {4}, "data.label.size");
  ExpectSpecError(Config({}), {}, "model.input_shape");
}

TEST(ExampleDecoderTest, ScalarShapeAndLabelKeyDefault) {
  config::DataConfig data =
      Config({Spec("a", FeatureSpec::FLOAT_LIST, {}), Spec("b", FeatureSpec::INT64_LIST, {1})});
  data.mutable_label()->set_kind(LabelSpec::CLASS_ID);  // set, without a key
  const ExampleDecoder decoder = MustCreate(data, {2});
  EXPECT_EQ(decoder.label().key(), "label");
  std::vector<float> out;
  int32_t label = -1;
  ASSERT_TRUE(
      DecodeInto(decoder,
                 ExampleBuilder().Floats("a", {5}).Ints("b", {6}).Ints("label", {9}).Serialize(),
                 &out, &label)
          .ok());
  EXPECT_EQ(out, (std::vector<float>{5, 6}));
  EXPECT_EQ(label, 9);
}

}  // namespace
}  // namespace shardtrain::data
