// Tests for `shardtrain data prepare --features/--npz/--csv` (prepare_arrays.h):
// the written Examples decoded back equal the input arrays for every dtype,
// the config fragment parses into the expected DataConfig, errors name files
// and rows; and for `data inspect` (inspect.h).
#include "worker/data/prepare_arrays.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "proto/tf/example.pb.h"
#include "storage/tfrecord/tfrecord.h"
#include "worker/data/inspect.h"
#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

std::string NpyBytes(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  return bytes + header + data;
}

template <typename T>
std::string Raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

void ExpectError(const Status& status, StatusCode code, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status;
  for (const auto& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos) << needle << " in " << status;
  }
}

class PrepareArraysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "shardtrain_arrays.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // Every Example of the split's shards, in order.
  std::vector<tf::Example> ReadSplit(const std::string& out, const std::string& split, int shards) {
    std::vector<tf::Example> examples;
    for (int i = 0; i < shards; ++i) {
      const std::string path = out + "/" + ShardFileName(split, i, shards);
      auto records = storage::ReadTfRecordFile(path);
      EXPECT_TRUE(records.ok()) << records.status();
      if (!records.ok()) continue;
      for (const std::string& record : *records) {
        examples.emplace_back();
        EXPECT_TRUE(examples.back().ParseFromString(record));
      }
    }
    return examples;
  }
  // The data block of the fragment written into `out`.
  config::DataConfig ReadFragment(const std::string& out) {
    std::ifstream in(out + "/" + kDataSpecFileName);
    std::stringstream text;
    text << in.rdbuf();
    config::JobConfig job;
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &job)) << text.str();
    return job.data();
  }
  PrepareArraysOptions NpyOptions(const std::string& x, const std::string& y, int shards) {
    PrepareArraysOptions options;
    options.train = {x, y};
    options.output_dir = dir_ + "/out";
    options.num_shards = shards;
    return options;
  }
  std::string dir_;
};

const google::protobuf::RepeatedField<float>& Floats(const tf::Example& e, const char* key) {
  return e.features().feature().at(key).float_list().value();
}

TEST_F(PrepareArraysTest, Float32FeaturesAndInt64ClassIdsRoundTrip) {
  std::vector<float> x(5 * 2 * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * static_cast<float>(i) - 1.0f;
  const std::vector<int64_t> y = {3, 0, 9, 1, 3};
  const auto options = NpyOptions(Write("x.npy", NpyBytes("<f4", "(5, 2, 3)", Raw(x))),
                                  Write("y.npy", NpyBytes("<i8", "(5,)", Raw(y))), 2);
  std::ostringstream log;
  ASSERT_TRUE(PrepareArrays(options, &log).ok());
  EXPECT_NE(log.str().find("train-00001-of-00002.tfrecord (3 examples)"), std::string::npos);
  const auto examples = ReadSplit(options.output_dir, "train", 2);
  ASSERT_EQ(examples.size(), 5u);
  for (size_t row = 0; row < 5; ++row) {
    const auto& values = Floats(examples[row], kArrayFeatureKey);
    ASSERT_EQ(values.size(), 6);
    for (int j = 0; j < 6; ++j) EXPECT_EQ(values.Get(j), x[row * 6 + static_cast<size_t>(j)]);
    const auto& label = examples[row].features().feature().at(kArrayLabelKey).int64_list();
    ASSERT_EQ(label.value_size(), 1);
    EXPECT_EQ(label.value(0), y[row]);
  }
  config::DataConfig expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "train_files: '" + fs::absolute(options.output_dir).string() +
          "/train-*-of-00002.tfrecord' num_classes: 10 "
          "features { key: 'x' type: FLOAT_LIST shape: [2, 3] } label { key: 'y' kind: CLASS_ID }",
      &expected));
  const config::DataConfig written = ReadFragment(options.output_dir);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(written, expected))
      << written.DebugString();
}

TEST_F(PrepareArraysTest, SameInputsWriteTheSameBytes) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  auto options =
      NpyOptions(Write("x.npy", NpyBytes("<f4", "(3, 2)", Raw(x))),
                 Write("y.npy", NpyBytes("<i8", "(3,)", Raw(std::vector<int64_t>{2, 0, 1}))), 0);
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  const std::string first_run = options.output_dir;
  options.output_dir = dir_ + "/again";
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  for (int i = 0; i < 3; ++i) {
    const std::string name = ShardFileName("train", i, 3);
    EXPECT_EQ(read(first_run + "/" + name), read(options.output_dir + "/" + name)) << name;
  }
}

TEST_F(PrepareArraysTest, Uint8BytesFloat64AndVectorLabels) {
  const std::string pixels("\x00\x01\xfe\xff\x10\x20", 6);
  const std::vector<float> targets = {0.5f, -1, 2, 0, 1, 0};  // (2, 3) one-hot-like
  auto options = NpyOptions(Write("x.npy", NpyBytes("|u1", "(2, 3)", pixels)),
                            Write("y.npy", NpyBytes("<f4", "(2, 3)", Raw(targets))), 1);
  options.scale = 1.0f / 255;
  const std::vector<double> vx = {0.1, 1e-3};
  const std::vector<double> vy = {2.5};
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  const auto examples = ReadSplit(options.output_dir, "train", 1);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[1].features().feature().at("x").bytes_list().value(0), pixels.substr(3));
  EXPECT_EQ(Floats(examples[1], "y").Get(0), 0.0f);
  EXPECT_EQ(Floats(examples[1], "y").size(), 3);
  EXPECT_EQ(ReadFragment(options.output_dir).features(0).type(), config::FeatureSpec::BYTES_UINT8);
  EXPECT_EQ(ReadFragment(options.output_dir).features(0).scale(), 1.0f / 255);
  EXPECT_EQ(ReadFragment(options.output_dir).label().size(), 3);
  // VECTOR labels: the width is label.size; num_classes stays unset.
  EXPECT_EQ(ReadFragment(options.output_dir).num_classes(), 0);

  // float64 features become float32; a 1-D float64 label is one regression value.
  options = NpyOptions(Write("xd.npy", NpyBytes("<f8", "(2,)", Raw(vx))),
                       Write("yd.npy", NpyBytes("<f8", "(1,)", Raw(vy))), 1);
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"xd.npy", "yd.npy", "2 examples", "1 labels"});
  options.train.labels =
      Write("yd.npy", NpyBytes("<f8", "(2,)", Raw(std::vector<double>{2.5, -1})));
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  const auto regression = ReadSplit(options.output_dir, "train", 1);
  EXPECT_EQ(Floats(regression[0], "x").Get(0), 0.1f);
  EXPECT_EQ(Floats(regression[1], "y").Get(0), -1.0f);
  const config::DataConfig data = ReadFragment(options.output_dir);
  EXPECT_EQ(data.label().kind(), config::LabelSpec::VECTOR);
  EXPECT_EQ(data.label().size(), 1);
  EXPECT_EQ(data.num_classes(), 0);
  EXPECT_EQ(data.features(0).shape_size(), 1);
}

TEST_F(PrepareArraysTest, IntegerLabelsOfEveryDtypeAndValidationSplit) {
  const std::vector<float> x = {1, 2, 3, 4};
  const std::string xs = Write("x.npy", NpyBytes("<f4", "(4, 1)", Raw(x)));
  for (const auto& [descr, data] : std::vector<std::pair<std::string, std::string>>{
           {"|u1", std::string("\x01\x02\x00\x04", 4)},
           {"<i4", Raw(std::vector<int32_t>{1, 2, 0, 4})},
           {"|b1", std::string("\x01\x01\x00\x01", 4)}}) {
    auto options = NpyOptions(xs, Write("y.npy", NpyBytes(descr, "(4, 1)", data)), 0);
    options.validation = ArraySplitSource{xs, options.train.labels};
    ASSERT_TRUE(PrepareArrays(options, nullptr).ok()) << descr;
    const auto test = ReadSplit(options.output_dir, "test", 4);
    ASSERT_EQ(test.size(), 4u);
    EXPECT_EQ(test[3].features().feature().at("y").int64_list().value(0), descr == "|b1" ? 1 : 4);
    const config::DataConfig spec = ReadFragment(options.output_dir);
    EXPECT_EQ(spec.dir(), fs::absolute(options.output_dir).string());
    EXPECT_EQ(spec.num_classes(), descr == "|b1" ? 2 : 5);
  }
  auto options = NpyOptions(
      xs, Write("neg.npy", NpyBytes("<i8", "(4,)", Raw(std::vector<int64_t>{0, 1, -1, 2}))), 1);
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"neg.npy", "row 2", "class id -1"});
  options.train.labels =
      Write("y.npy", NpyBytes("<i8", "(4,)", Raw(std::vector<int64_t>{0, 1, 1, 2})));
  options.validation = ArraySplitSource{xs, Write("yv.npy", NpyBytes("<f4", "(4,)", Raw(x)))};
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"label kind", "yv.npy"});
  options.validation.reset();
  options.train.features = Write("empty.npy", NpyBytes("<f4", "(4, 0)", ""));
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"empty.npy", "(4, 0)", "no values"});
  options.train.features = xs;
  options.num_shards = 5;
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument, {"5 shards"});
}

TEST_F(PrepareArraysTest, NpzArchiveWithValidationKeys) {
  const std::vector<std::pair<std::string, std::string>> members = {
      {"x_train", NpyBytes("<f4", "(2, 2)", Raw(std::vector<float>{1, 2, 3, 4}))},
      {"y_train", NpyBytes("<i8", "(2,)", Raw(std::vector<int64_t>{1, 0}))},
      {"x_test", NpyBytes("<f4", "(1, 2)", Raw(std::vector<float>{5, 6}))},
      {"y_test", NpyBytes("<i8", "(1,)", Raw(std::vector<int64_t>{2}))}};
  const std::string path = dir_ + "/data.npz";
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(zip, nullptr);
  for (const auto& [key, bytes] : members) {
    zip_source_t* source = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
    ASSERT_GE(zip_file_add(zip, (key + ".npy").c_str(), source, 0), 0);
  }
  ASSERT_EQ(zip_close(zip), 0);
  PrepareArraysOptions options;
  options.format = ArrayFormat::kNpz;
  options.npz_path = path;
  options.train = {"x_train", "y_train"};
  options.validation = ArraySplitSource{"x_test", "y_test"};
  options.output_dir = dir_ + "/out";
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  const auto test = ReadSplit(options.output_dir, "test", 1);
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(Floats(test[0], "x").Get(1), 6.0f);
  EXPECT_EQ(ReadFragment(options.output_dir).num_classes(), 3);
  options.validation = ArraySplitSource{"x_val", "y_test"};
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"data.npz", "x_val", "x_train, y_train, x_test, y_test"});
}

TEST_F(PrepareArraysTest, CsvLabelColumn) {
  PrepareArraysOptions options;
  options.format = ArrayFormat::kCsv;
  options.label_column = "species";
  options.train = {Write("iris.csv", "a,species,b\n0.5,2,1\n\n1.5,0,-2\n"), ""};
  options.output_dir = dir_ + "/out";
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  const auto examples = ReadSplit(options.output_dir, "train", 2);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(Floats(examples[1], "x").Get(1), -2.0f);
  EXPECT_EQ(examples[1].features().feature().at("y").int64_list().value(0), 0);
  EXPECT_EQ(ReadFragment(options.output_dir).num_classes(), 3);

  options.train.features = Write("reg.csv", "a,species\n1,2.5\n2,3\n");
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  EXPECT_EQ(ReadFragment(options.output_dir).label().kind(), config::LabelSpec::VECTOR);

  options.train.features = Write("nolabel.csv", "a,b\n1,2\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"nolabel.csv:1", "'species'", "a, b"});
  options.train.features = Write("neg.csv", "a,species\n1,2\n\n3,-1\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"neg.csv:4", "class id -1"});
  options.train.features = Write("big.csv", "a,species\n1,100000000000000000000\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"big.csv:2", "class id 1.0000", "largest supported"});
  // Integer labels are read exactly: 16777217 is not rounded to float32's 16777216.
  options.train.features = Write("wide.csv", "a,species\n1,16777217\n");
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  EXPECT_EQ(
      ReadSplit(options.output_dir, "train", 1)[0].features().feature().at("y").int64_list().value(
          0),
      16777217);
  options.train.features = Write("max.csv", "a,species\n1,2147483647\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"max.csv:2", "class id 2147483647", "largest supported 2147483646"});
  options.train.features = Write("nan.csv", "a,species\nnan,2\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"nan.csv:2", "column 'a'", "finite"});
}

// A validation CSV's columns are matched to the training CSV's by name: the
// same columns in another order land in the training order (the old code took
// them in file order, putting b's values where a's belong).
TEST_F(PrepareArraysTest, ValidationCsvColumnsMatchTheTrainingHeaderByName) {
  PrepareArraysOptions options;
  options.format = ArrayFormat::kCsv;
  options.label_column = "label";
  options.train = {Write("train.csv", "a,b,label\n1,2,0\n3,4,1\n"), ""};
  options.validation = ArraySplitSource{Write("val.csv", "b,label,a\n20,1,10\n40,0,30\n"), ""};
  options.output_dir = dir_ + "/out";
  options.num_shards = 1;
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  const auto examples = ReadSplit(options.output_dir, "test", 1);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(std::vector<float>(Floats(examples[0], "x").begin(), Floats(examples[0], "x").end()),
            (std::vector<float>{10, 20}));
  EXPECT_EQ(std::vector<float>(Floats(examples[1], "x").begin(), Floats(examples[1], "x").end()),
            (std::vector<float>{30, 40}));
  EXPECT_EQ(examples[0].features().feature().at("y").int64_list().value(0), 1);
  EXPECT_EQ(examples[1].features().feature().at("y").int64_list().value(0), 0);

  // A missing or an extra column is refused, naming both files and the column.
  options.validation->features = Write("missing.csv", "c,label,a\n1,0,2\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"missing.csv:1", "lacks column 'b'", "train.csv"});
  options.validation->features = Write("extra.csv", "a,b,c,label\n1,2,3,0\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"extra.csv:1", "has column 'c'", "train.csv"});
  // Repeated names match only in the same order.
  options.train.features = Write("twice.csv", "a,a,b,label\n1,2,3,0\n");
  options.validation->features = Write("twice_val.csv", "a,a,b,label\n4,5,6,1\n");
  ASSERT_TRUE(PrepareArrays(options, nullptr).ok());
  options.validation->features = Write("twice_moved.csv", "a,b,a,label\n4,6,5,1\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"twice_moved.csv:1", "'a' appears more than once", "twice.csv"});
  options.validation->features = Write("once.csv", "b,a,label\n6,4,1\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"once.csv:1", "column 'a' fewer times than the training CSV", "twice.csv"});
  options.validation->features = Write("thrice.csv", "a,b,a,a,label\n4,6,5,5,1\n");
  ExpectError(PrepareArrays(options, nullptr), StatusCode::kInvalidArgument,
              {"thrice.csv:1", "column 'a' more times than the training CSV", "twice.csv"});
}

TEST_F(PrepareArraysTest, InspectDescribesFeaturesAndCounts) {
  const std::string path = dir_ + "/mixed.tfrecord";
  {
    auto writer = storage::TfRecordWriter::Open(path, storage::TfRecordCompression::kGzip);
    ASSERT_TRUE(writer.ok()) << writer.status();
    tf::Example example;
    auto& features = *example.mutable_features()->mutable_feature();
    features["png"].mutable_bytes_list()->add_value(std::string("\x89PNG\r\n\x1a\n....", 12));
    features["label"].mutable_int64_list()->add_value(7);
    for (int i = 0; i < 10; ++i) features["x"].mutable_float_list()->add_value(0.5f);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*writer)->Write(example.SerializeAsString()).ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  std::ostringstream out;
  InspectOptions options;
  options.count = true;
  ASSERT_TRUE(InspectTfRecordFile(path, options, &out).ok());
  EXPECT_EQ(out.str(), path +
                           ": compression GZIP (detected: gzip magic 1f 8b)\n"
                           "record 0: 3 features\n"
                           "  label: int64_list, 1 value [7]\n"
                           "  png: bytes_list, 1 value (12 bytes, PNG image)\n"
                           "  x: float_list, 10 values\n"
                           "records: 3\n");
  options.compression = storage::TfRecordCompression::kNone;
  ExpectError(InspectTfRecordFile(path, options, &out), StatusCode::kDataLoss, {path});
  const std::string junk = Write("junk.tfrecord", "");
  {
    auto writer = storage::TfRecordWriter::Open(junk);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Write("\xff\xff not an example").ok());
    ASSERT_TRUE((*writer)->Close().ok());
  }
  options.compression.reset();
  ExpectError(InspectTfRecordFile(junk, options, &out), StatusCode::kDataLoss,
              {"junk.tfrecord, record 0", "tf.train.Example"});
}

// A FIFO is refused before any read (a read would block forever with no writer).
TEST_F(PrepareArraysTest, InspectRefusesAFifoWithoutBlocking) {
  const std::string fifo = dir_ + "/pipe.tfrecord";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::ostringstream out;
  InspectOptions options;
  ExpectError(InspectTfRecordFile(fifo, options, &out), StatusCode::kInvalidArgument,
              {"pipe.tfrecord"});
  options.compression = storage::TfRecordCompression::kNone;
  ExpectError(InspectTfRecordFile(fifo, options, &out), StatusCode::kInvalidArgument,
              {"pipe.tfrecord"});
}

}  // namespace
}  // namespace shardtrain::data
