// Tests for storage/tensor_bundle: every real TF bundle under shared/testdata/tf
// is read (every tensor, CRC verified) and its recorded values checked; our
// writer reproduces real bundles byte for byte; round trips of every POD dtype
// and of strings; a 3-shard bundle; corruption (byte flips, truncation) as
// DataLoss naming key and file; partitioned entries; crash safety of BundleWriter.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "proto/tf/checkpoint.pb.h"
#include "storage/io/crc32c.h"
#include "storage/io/file_system.h"
#include "storage/io/table.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "storage/tensor_bundle/bundle_writer.h"

namespace shardtrain::storage {
namespace {

namespace fs = std::filesystem;

const std::string kTfDir = std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/tf";

std::string PrefixOf(const std::string& index_path) {
  return index_path.substr(0, index_path.size() - std::string(".index").size());
}

std::vector<std::string> RealPrefixes() {
  std::vector<std::string> out;
  if (!fs::is_directory(kTfDir)) return out;
  for (const auto& entry : fs::recursive_directory_iterator(kTfDir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".index") {
      out.push_back(PrefixOf(entry.path().string()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Real(const std::string& model) { return kTfDir + "/" + model + "/variables/variables"; }

std::unique_ptr<BundleReader> OpenOrDie(FileSystem* fs, const std::string& prefix) {
  auto reader = BundleReader::Open(fs, prefix);
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::move(*reader) : nullptr;
}

template <typename T>
T ReadScalar(const BundleReader& reader, const std::string& key) {
  T value{};
  Status status = reader.Read(key, &value, sizeof(T));
  EXPECT_TRUE(status.ok()) << key << ": " << status;
  return value;
}

template <typename T>
std::vector<T> ReadVector(const BundleReader& reader, const std::string& key) {
  auto entry = reader.Entry(key);
  EXPECT_TRUE(entry.ok()) << entry.status();
  if (!entry.ok()) return {};
  std::vector<T> values(entry->size() / sizeof(T));
  Status status = reader.Read(key, values.data(), values.size() * sizeof(T));
  EXPECT_TRUE(status.ok()) << key << ": " << status;
  return values;
}

std::vector<int64_t> Shape(const tf::BundleEntryProto& entry) {
  std::vector<int64_t> out;
  for (const auto& dim : entry.shape().dim()) out.push_back(dim.size());
  return out;
}

#define SKIP_WITHOUT_TESTDATA()                                                   \
  if (!fs::is_directory(kTfDir)) {                                                \
    GTEST_SKIP() << "TF test data not found at " << kTfDir                        \
                 << " (shared/testdata/tf is outside the repository)";            \
  }

TEST(BundleFormat, FileNames) {
  EXPECT_EQ(DataFilename("ckpt-3", 0, 1), "ckpt-3.data-00000-of-00001");
  EXPECT_EQ(DataFilename("dir/model", 2, 4), "dir/model.data-00002-of-00004");
  EXPECT_EQ(DataFilename("m", 123456, 200000), "m.data-123456-of-200000");
  EXPECT_EQ(IndexFilename("dir/ckpt-7"), "dir/ckpt-7.index");
  EXPECT_EQ(TfDTypeSize(1), 4u);
  EXPECT_EQ(TfDTypeSize(14), 2u);
  EXPECT_EQ(TfDTypeSize(7), 0u);
  EXPECT_EQ(TfDTypeName(9), "int64");
}

// Every bundle under testdata/tf: list keys, read every tensor with its CRC.
TEST(BundleRealFiles, ReadsEveryTensorOfEveryBundle) {
  SKIP_WITHOUT_TESTDATA();
  const auto prefixes = RealPrefixes();
  EXPECT_EQ(prefixes.size(), 10u);
  int tensors = 0;
  for (const std::string& prefix : prefixes) {
    SCOPED_TRACE(prefix);
    auto reader = OpenOrDie(PosixFileSystem(), prefix);
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(reader->header().num_shards(), 1);
    EXPECT_EQ(reader->header().version().producer(), 1);
    const auto keys = reader->Keys();
    EXPECT_FALSE(keys.empty());
    EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
    for (const std::string& key : keys) {
      auto entry = reader->Entry(key);
      ASSERT_TRUE(entry.ok()) << entry.status();
      if (entry->dtype() == tf::DT_STRING) {
        auto strings = reader->ReadStrings(key);
        ASSERT_TRUE(strings.ok()) << strings.status();
      } else {
        auto bytes = reader->ReadBytes(key);
        ASSERT_TRUE(bytes.ok()) << bytes.status();
        EXPECT_EQ(static_cast<int64_t>(bytes->size()), entry->size());
      }
      ++tensors;
    }
  }
  EXPECT_EQ(tensors, 5 + 4 + 3 + 3 + 3 + 1 + 9 + 28 + 7 + 2);
}

TEST(BundleRealFiles, HalfPlusTwoFamilyValues) {
  SKIP_WITHOUT_TESTDATA();
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("serving_saved_model_half_plus_two_cpu/00000123"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->Keys(), (std::vector<std::string>{"a", "a2", "b", "c", "c2"}));
    EXPECT_EQ(ReadScalar<float>(*r, "a"), 0.5f);
    EXPECT_EQ(ReadScalar<float>(*r, "a2"), 0.5f);
    EXPECT_EQ(ReadScalar<float>(*r, "b"), 2.0f);
    EXPECT_EQ(ReadScalar<float>(*r, "c"), 3.0f);
    EXPECT_EQ(ReadScalar<float>(*r, "c2"), 3.0f);
    auto a = r->Entry("a");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->crc32c(), 0x1f273806u);
    EXPECT_EQ(r->Entry("b")->crc32c(), 0x4f78fd10u);
    EXPECT_EQ(r->Entry("c2")->offset(), 16);
    EXPECT_TRUE(Shape(*a).empty());
  }
  {
    auto r = OpenOrDie(PosixFileSystem(),
                       Real("serving_saved_model_half_plus_two_tf2_cpu/00000123"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(ReadScalar<float>(*r, "a/.ATTRIBUTES/VARIABLE_VALUE"), 0.5f);
    EXPECT_EQ(ReadScalar<float>(*r, "b/.ATTRIBUTES/VARIABLE_VALUE"), 2.0f);
    EXPECT_EQ(ReadScalar<float>(*r, "c/.ATTRIBUTES/VARIABLE_VALUE"), 3.0f);
    auto graph_entry = r->Entry("_CHECKPOINTABLE_OBJECT_GRAPH");
    ASSERT_TRUE(graph_entry.ok());
    EXPECT_EQ(graph_entry->offset(), 12);
    EXPECT_EQ(graph_entry->size(), 619);
    auto graph = r->ReadStrings("_CHECKPOINTABLE_OBJECT_GRAPH");
    ASSERT_TRUE(graph.ok()) << graph.status();
    ASSERT_EQ(graph->size(), 1u);
    EXPECT_EQ((*graph)[0].size(), 613u);
    tf::TrackableObjectGraph object_graph;
    ASSERT_TRUE(object_graph.ParseFromString((*graph)[0]));
    EXPECT_EQ(object_graph.nodes_size(), 24);
  }
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("serving_saved_model_half_plus_three/00000123"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(ReadScalar<float>(*r, "a"), 0.5f);
    EXPECT_EQ(ReadScalar<float>(*r, "b"), 3.0f);
    EXPECT_EQ(ReadScalar<float>(*r, "c"), 3.0f);
  }
  for (const char* version : {"00000123", "00000124"}) {
    auto r = OpenOrDie(PosixFileSystem(),
                       Real(std::string("serving_saved_model_half_plus_two_2_versions/") + version));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(ReadScalar<float>(*r, "a"), 0.5f);
    EXPECT_EQ(ReadScalar<float>(*r, "b"), 2.0f);
    EXPECT_EQ(ReadScalar<float>(*r, "c"), 3.0f);
  }
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("serving_saved_model_counter/00000123"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->Keys(), std::vector<std::string>{"counter"});
    EXPECT_EQ(ReadScalar<float>(*r, "counter"), 0.0f);
    EXPECT_EQ(r->Entry("counter")->crc32c(), 0x3a117ba6u);
  }
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("serving_saved_model_half_plus_two_mkl/00000123"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->Keys().size(), 9u);
    EXPECT_EQ(ReadScalar<float>(*r, "b"), 2.0f);
    EXPECT_EQ(ReadVector<float>(*r, "conv2d/bias"), std::vector<float>{0.0f});
    EXPECT_EQ(Shape(*r->Entry("conv2d/kernel")), (std::vector<int64_t>{1, 1, 1, 1}));
    EXPECT_NEAR(ReadVector<float>(*r, "conv2d/kernel")[0], -0.5223960f, 1e-6);
    EXPECT_NEAR(ReadVector<float>(*r, "conv2d_1/kernel")[0], -1.0451120f, 1e-6);
    EXPECT_NEAR(ReadVector<float>(*r, "conv2d_2/kernel")[0], 1.5779432f, 1e-6);
  }
}

TEST(BundleRealFiles, KerasAndRegressionValues) {
  SKIP_WITHOUT_TESTDATA();
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("rust_keras_single_input_saved_model"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->Keys().size(), 28u);
    EXPECT_EQ(ReadScalar<int64_t>(*r, "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE"), 1);
    EXPECT_EQ(r->Entry("optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE")->dtype(), tf::DT_INT64);
    EXPECT_FLOAT_EQ(ReadScalar<float>(*r, "optimizer/beta_1/.ATTRIBUTES/VARIABLE_VALUE"), 0.9f);
    EXPECT_FLOAT_EQ(ReadScalar<float>(*r, "optimizer/beta_2/.ATTRIBUTES/VARIABLE_VALUE"), 0.999f);
    EXPECT_FLOAT_EQ(ReadScalar<float>(*r, "optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE"),
                    0.001f);
    EXPECT_EQ(ReadScalar<float>(*r, "optimizer/decay/.ATTRIBUTES/VARIABLE_VALUE"), 0.0f);
    const std::string kernel = "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE";
    EXPECT_EQ(Shape(*r->Entry(kernel)), (std::vector<int64_t>{5, 5}));
    EXPECT_EQ(ReadVector<float>(*r, kernel).size(), 25u);
    EXPECT_EQ(Shape(*r->Entry("layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE")),
              (std::vector<int64_t>{5, 1}));
    auto graph = r->ReadStrings("_CHECKPOINTABLE_OBJECT_GRAPH");
    ASSERT_TRUE(graph.ok()) << graph.status();
    tf::TrackableObjectGraph object_graph;
    ASSERT_TRUE(object_graph.ParseFromString(graph->at(0)));
    EXPECT_EQ(object_graph.nodes_size(), 76);
  }
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("rust_regression_savedmodel"));
    ASSERT_NE(r, nullptr);
    EXPECT_NEAR(ReadVector<float>(*r, "w/.ATTRIBUTES/VARIABLE_VALUE")[0], 0.2042975f, 1e-6);
    EXPECT_EQ(ReadVector<float>(*r, "b/.ATTRIBUTES/VARIABLE_VALUE")[0], 0.0f);
    EXPECT_EQ(ReadScalar<int64_t>(*r, "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE"), 0);
    EXPECT_EQ(ReadScalar<float>(*r, "optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE"), 0.5f);
  }
  {
    auto r = OpenOrDie(PosixFileSystem(), Real("rust_regression_model"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(ReadVector<float>(*r, "b")[0], 0.0f);
    EXPECT_NEAR(ReadVector<float>(*r, "w")[0], -0.8578622f, 1e-6);
  }
}

// Re-writing each real bundle with our writer, adding tensors in data-file
// order, reproduces its data file exactly, and its index exactly when TF stored
// it uncompressed.
TEST(BundleRealFiles, WriterReproducesRealBundles) {
  SKIP_WITHOUT_TESTDATA();
  int identical_indexes = 0;
  for (const std::string& prefix : RealPrefixes()) {
    SCOPED_TRACE(prefix);
    auto reader = OpenOrDie(PosixFileSystem(), prefix);
    ASSERT_NE(reader, nullptr);
    std::vector<std::pair<std::string, tf::BundleEntryProto>> entries;
    for (const auto& key : reader->Keys()) entries.emplace_back(key, *reader->Entry(key));
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.second.offset() < b.second.offset(); });
    MemoryFileSystem mem;
    auto writer = BundleWriter::Open(&mem, "/out/variables");
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const auto& [key, entry] : entries) {
      if (entry.dtype() == tf::DT_STRING) {
        ASSERT_TRUE((*writer)->AddStrings(key, Shape(entry), *reader->ReadStrings(key)).ok());
      } else {
        const std::string bytes = *reader->ReadBytes(key);
        ASSERT_TRUE((*writer)
                        ->Add(key, static_cast<DType>(entry.dtype()), Shape(entry), bytes.data(),
                              bytes.size())
                        .ok());
      }
    }
    ASSERT_TRUE((*writer)->Finish().ok());
    const std::string real_data = *PosixFileSystem()->ReadFile(DataFilename(prefix, 0, 1));
    EXPECT_EQ(*mem.ReadFile("/out/variables.data-00000-of-00001"), real_data);
    const std::string real_index = *PosixFileSystem()->ReadFile(IndexFilename(prefix));
    const std::string our_index = *mem.ReadFile("/out/variables.index");
    // Entries must agree field by field in any case.
    auto ours = OpenOrDie(&mem, "/out/variables");
    ASSERT_NE(ours, nullptr);
    EXPECT_EQ(ours->Keys(), reader->Keys());
    for (const auto& key : reader->Keys()) {
      EXPECT_EQ(ours->Entry(key)->SerializeAsString(), reader->Entry(key)->SerializeAsString())
          << key;
    }
    if (prefix.find("half_plus_two_cpu") == std::string::npos &&
        prefix.find("half_plus_two_tf2_cpu") == std::string::npos) {
      EXPECT_EQ(our_index, real_index);
      ++identical_indexes;
    }
  }
  EXPECT_EQ(identical_indexes, 8);
}

// One tensor per POD dtype, with a value pattern of the dtype's size.
TEST(BundleRoundTrip, EveryPodDtype) {
  const std::vector<std::pair<int, std::vector<int64_t>>> cases = {
      {1, {2, 3}}, {2, {4}},  {3, {3, 1}}, {4, {7}},  {5, {2, 2}}, {6, {5}},  {8, {2}},
      {9, {3}},    {10, {4}}, {14, {6}},   {17, {3}}, {18, {1}},   {19, {2}}, {22, {2}},
      {23, {2}},   {1, {}},   {1, {0}},    {2, {3, 0, 2}}};
  MemoryFileSystem mem;
  auto writer = BundleWriter::Open(&mem, "/ckpt/model");
  ASSERT_TRUE(writer.ok()) << writer.status();
  std::map<std::string, std::string> expected;
  std::mt19937 rng(5);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [dtype, shape] = cases[i];
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::string bytes(n * TfDTypeSize(dtype), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (dtype == 10) {
      for (char& c : bytes) c = static_cast<char>(c & 1);
    }
    const std::string key = "var_" + std::to_string(i) + "/" + TfDTypeName(dtype);
    ASSERT_TRUE(
        (*writer)->Add(key, static_cast<DType>(dtype), shape, bytes.data(), bytes.size()).ok())
        << key;
    expected[key] = bytes;
  }
  ASSERT_TRUE((*writer)->Finish().ok());
  auto reader = OpenOrDie(&mem, "/ckpt/model");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->Keys().size(), expected.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string key = "var_" + std::to_string(i) + "/" + TfDTypeName(cases[i].first);
    auto entry = reader->Entry(key);
    ASSERT_TRUE(entry.ok());
    EXPECT_EQ(static_cast<int>(entry->dtype()), cases[i].first);
    EXPECT_EQ(Shape(*entry), cases[i].second);
    auto bytes = reader->ReadBytes(key);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(*bytes, expected[key]) << key;
  }
  // Typed helpers.
  MemoryFileSystem mem2;
  auto w2 = BundleWriter::Open(&mem2, "m");
  ASSERT_TRUE(w2.ok());
  const std::vector<double> doubles = {1.5, -2.25, 1e300};
  ASSERT_TRUE((*w2)->Add("d", DType::kFloat64, {3}, doubles.data(), 24).ok());
  ASSERT_TRUE((*w2)->Finish().ok());
  auto r2 = OpenOrDie(&mem2, "m");
  ASSERT_NE(r2, nullptr);
  EXPECT_EQ(ReadVector<double>(*r2, "d"), doubles);
}

TEST(BundleRoundTrip, Strings) {
  MemoryFileSystem mem;
  auto writer = BundleWriter::Open(&mem, "/s/ckpt");
  ASSERT_TRUE(writer.ok());
  const std::vector<std::string> mixed = {"", "a", std::string("nul\0byte", 8),
                                          std::string(300, 'x'), std::string(70000, 'y')};
  ASSERT_TRUE((*writer)->AddStrings("mixed", {5}, mixed).ok());
  ASSERT_TRUE((*writer)->AddStrings("scalar", {}, {"one"}).ok());
  ASSERT_TRUE((*writer)->AddStrings("empty", {0}, {}).ok());
  ASSERT_TRUE((*writer)->AddStrings("matrix", {2, 2}, {"a", "bb", "", "dddd"}).ok());
  EXPECT_EQ((*writer)->AddStrings("bad", {3}, {"a"}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*writer)->Finish().ok());
  auto reader = OpenOrDie(&mem, "/s/ckpt");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(*reader->ReadStrings("mixed"), mixed);
  EXPECT_EQ(*reader->ReadStrings("scalar"), std::vector<std::string>{"one"});
  EXPECT_TRUE(reader->ReadStrings("empty")->empty());
  EXPECT_EQ(*reader->ReadStrings("matrix"), (std::vector<std::string>{"a", "bb", "", "dddd"}));
  // Size = varints + 4 + bytes (spec §1.5).
  EXPECT_EQ(reader->Entry("scalar")->size(), 1 + 4 + 3);
  EXPECT_EQ(reader->Entry("empty")->size(), 4);
  // Reading a string tensor as POD and vice versa is InvalidArgument.
  char buf[8];
  EXPECT_EQ(reader->Read("scalar", buf, 8).code(), StatusCode::kInvalidArgument);
}

TEST(BundleWriter, RejectsBadInput) {
  MemoryFileSystem mem;
  auto writer = BundleWriter::Open(&mem, "/w/ckpt");
  ASSERT_TRUE(writer.ok());
  float f[4] = {1, 2, 3, 4};
  ASSERT_TRUE((*writer)->Add("x", DType::kFloat32, {4}, f, 16).ok());
  Status dup = (*writer)->Add("x", DType::kFloat32, {4}, f, 16);
  EXPECT_EQ(dup.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.message().find("'x'"), std::string::npos);
  EXPECT_EQ((*writer)->Add("", DType::kFloat32, {1}, f, 4).code(), StatusCode::kInvalidArgument);
  Status size = (*writer)->Add("y", DType::kFloat32, {3}, f, 16);
  EXPECT_EQ(size.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(size.message().find("[3]"), std::string::npos) << size;
  EXPECT_EQ((*writer)->Add("z", DType::kFloat32, {-1}, f, 4).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->Add("s", DType::kString, {1}, f, 4).code(), StatusCode::kInvalidArgument);

  tf::BundleEntryProto entry;
  entry.set_dtype(tf::DT_FLOAT);
  entry.set_shard_id(0);
  Status duplicate = WriteBundleIndex(&mem, "/w/i.index", 1, {{"k", entry}, {"k", entry}});
  EXPECT_EQ(duplicate.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(duplicate.message().find("duplicate key 'k'"), std::string::npos);
  entry.set_shard_id(1);
  EXPECT_EQ(WriteBundleIndex(&mem, "/w/i.index", 1, {{"k", entry}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteBundleIndex(&mem, "/w/i.index", 0, {}).code(), StatusCode::kInvalidArgument);
}

TEST(BundleWriter, TempFilesUntilFinishAndCleanupOnAbandon) {
  MemoryFileSystem mem;
  {
    auto writer = BundleWriter::Open(&mem, "/a/ckpt-1");
    ASSERT_TRUE(writer.ok());
    float f = 1;
    ASSERT_TRUE((*writer)->Add("x", DType::kFloat32, {}, &f, 4).ok());
    auto names = mem.ListDir("/a");
    ASSERT_TRUE(names.ok());
    ASSERT_EQ(names->size(), 1u);
    EXPECT_NE((*names)[0].find("ckpt-1.data-00000-of-00001.tempstate"), std::string::npos);
    EXPECT_FALSE(mem.FileExists("/a/ckpt-1.index"));
  }  // abandoned
  EXPECT_TRUE(mem.ListDir("/a")->empty());
}

TEST(BundleWriter, FinishedBundleSurvivesCrashUnfinishedLeavesNothing) {
  MemoryFileSystem mem;
  ASSERT_TRUE(mem.CreateDirs("/c").ok());
  ASSERT_TRUE(mem.SyncDir("/").ok());
  auto writer = BundleWriter::Open(&mem, "/c/ckpt-1");
  ASSERT_TRUE(writer.ok());
  const std::vector<float> w = {1, 2, 3};
  ASSERT_TRUE((*writer)->Add("w", DType::kFloat32, {3}, w.data(), 12).ok());
  ASSERT_TRUE((*writer)->Finish().ok());

  auto second = BundleWriter::Open(&mem, "/c/ckpt-2");
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Add("w", DType::kFloat32, {3}, w.data(), 12).ok());
  mem.SimulateCrash();  // ckpt-2 was never finished

  auto reader = OpenOrDie(&mem, "/c/ckpt-1");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(ReadVector<float>(*reader, "w"), w);
  EXPECT_FALSE(mem.FileExists("/c/ckpt-2.index"));
  EXPECT_FALSE(mem.FileExists("/c/ckpt-2.data-00000-of-00001"));
  EXPECT_EQ(BundleReader::Open(&mem, "/c/ckpt-2").status().code(), StatusCode::kNotFound);
}

// Three data files written independently (as three ranks would), one index.
TEST(BundleMultiShard, ThreeShardsOneIndex) {
  MemoryFileSystem mem;
  ASSERT_TRUE(mem.CreateDirs("/run").ok());
  const std::string prefix = "/run/ckpt-5";
  std::vector<std::pair<std::string, tf::BundleEntryProto>> all;
  for (int shard = 0; shard < 3; ++shard) {
    auto writer = BundleShardWriter::Open(&mem, DataFilename(prefix, shard, 3) + ".tmp", shard);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (int t = 0; t < 4; ++t) {
      std::vector<int32_t> values(10 + t, shard * 100 + t);
      const std::string key = "layer_" + std::to_string(t) + "/shard" + std::to_string(shard);
      ASSERT_TRUE((*writer)
                      ->Add(key, DType::kInt32, {static_cast<int64_t>(values.size())},
                            values.data(), values.size() * 4)
                      .ok());
    }
    ASSERT_TRUE((*writer)->AddStrings("names/" + std::to_string(shard), {1}, {"s"}).ok());
    ASSERT_TRUE((*writer)->Finish().ok());
    ASSERT_EQ((*writer)->entries().size(), 5u);
    for (const auto& e : (*writer)->entries()) EXPECT_EQ(e.second.shard_id(), shard);
    EXPECT_EQ((*writer)->entries()[1].second.offset(), 40);  // order added, packed
    all.insert(all.end(), (*writer)->entries().begin(), (*writer)->entries().end());
    ASSERT_TRUE(mem.Rename(DataFilename(prefix, shard, 3) + ".tmp", DataFilename(prefix, shard, 3))
                    .ok());
  }
  std::reverse(all.begin(), all.end());  // WriteBundleIndex sorts
  ASSERT_TRUE(WriteBundleIndex(&mem, IndexFilename(prefix), 3, all).ok());

  auto reader = OpenOrDie(&mem, prefix);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->header().num_shards(), 3);
  EXPECT_EQ(reader->Keys().size(), 15u);
  for (int shard = 0; shard < 3; ++shard) {
    for (int t = 0; t < 4; ++t) {
      const std::string key = "layer_" + std::to_string(t) + "/shard" + std::to_string(shard);
      EXPECT_EQ(ReadVector<int32_t>(*reader, key), std::vector<int32_t>(10 + t, shard * 100 + t));
    }
    EXPECT_EQ(*reader->ReadStrings("names/" + std::to_string(shard)),
              std::vector<std::string>{"s"});
  }

  // Data files are opened lazily: without shard 2's file, shards 0 and 1 still read.
  ASSERT_TRUE(mem.DeleteFile(DataFilename(prefix, 2, 3)).ok());
  auto lazy = OpenOrDie(&mem, prefix);
  ASSERT_NE(lazy, nullptr);
  EXPECT_EQ(ReadVector<int32_t>(*lazy, "layer_0/shard1"), std::vector<int32_t>(10, 100));
  std::vector<int32_t> out(10);
  Status missing = lazy->Read("layer_0/shard2", out.data(), 40);
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("ckpt-5.data-00002-of-00003"), std::string::npos) << missing;
}

TEST(BundleReader, LookupErrors) {
  MemoryFileSystem mem;
  auto writer = BundleWriter::Open(&mem, "/e/ckpt");
  ASSERT_TRUE(writer.ok());
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE((*writer)->Add("dense/kernel", DType::kFloat32, {2, 3}, v.data(), 24).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto reader = OpenOrDie(&mem, "/e/ckpt");
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(reader->Contains("dense/kernel"));
  EXPECT_FALSE(reader->Contains(""));
  EXPECT_FALSE(reader->Contains("dense/bias"));
  auto entry = reader->Entry("dense/bias");
  EXPECT_EQ(entry.status().code(), StatusCode::kNotFound);
  EXPECT_NE(entry.status().message().find("dense/bias"), std::string::npos);
  EXPECT_NE(entry.status().message().find("/e/ckpt"), std::string::npos);
  std::vector<float> small(5);
  Status wrong = reader->Read("dense/kernel", small.data(), 20);
  EXPECT_EQ(wrong.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("dense/kernel"), std::string::npos);
  EXPECT_NE(wrong.message().find("float32 [2,3]"), std::string::npos) << wrong;
  EXPECT_EQ(reader->ReadStrings("dense/kernel").status().code(), StatusCode::kInvalidArgument);
  auto none = BundleReader::Open(&mem, "/e/nothing");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("/e/nothing.index"), std::string::npos);
}

TEST(BundleReader, PiecesCombineToTheTensorCrc) {
  MemoryFileSystem mem;
  auto writer = BundleWriter::Open(&mem, "/p/ckpt");
  ASSERT_TRUE(writer.ok());
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 7.0f;
  ASSERT_TRUE((*writer)->Add("w", DType::kFloat32, {10, 100}, values.data(), 4000).ok());
  ASSERT_TRUE((*writer)->AddStrings("s", {1}, {"text"}).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  const std::string data_path = "/p/ckpt.data-00000-of-00001";

  // Three pieces, read out of order, combined in order.
  auto read_in_pieces = [&](BundleReader& reader, std::vector<float>& out) -> StatusOr<uint32_t> {
    const std::vector<std::pair<uint64_t, size_t>> pieces = {{0, 1200}, {1200, 1800}, {3000, 1000}};
    std::vector<uint32_t> crcs(pieces.size());
    for (size_t i : {2, 0, 1}) {
      ASSIGN_OR_RETURN(crcs[i],
                       reader.ReadPiece("w", pieces[i].first, pieces[i].second,
                                        reinterpret_cast<char*>(out.data()) + pieces[i].first));
    }
    uint32_t crc = 0;
    for (size_t i = 0; i < pieces.size(); ++i) crc = Crc32cCombine(crc, crcs[i], pieces[i].second);
    return crc;
  };
  auto reader = OpenOrDie(&mem, "/p/ckpt");
  ASSERT_NE(reader, nullptr);
  std::vector<float> out(1000, 0.0f);
  StatusOr<uint32_t> crc = read_in_pieces(*reader, out);
  ASSERT_TRUE(crc.ok()) << crc.status();
  EXPECT_EQ(out, values);
  EXPECT_TRUE(reader->CheckCrc("w", *crc).ok());
  Status wrong = reader->CheckCrc("w", *crc ^ 1u);
  EXPECT_EQ(wrong.code(), StatusCode::kDataLoss);
  EXPECT_NE(wrong.message().find("'w'"), std::string::npos) << wrong;
  EXPECT_NE(wrong.message().find(data_path), std::string::npos) << wrong;

  // Not a whole-element range, past the end, or a string tensor.
  char buffer[16];
  EXPECT_EQ(reader->ReadPiece("w", 2, 4, buffer).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader->ReadPiece("w", 0, 6, buffer).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader->ReadPiece("w", 3996, 8, buffer).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader->ReadPiece("s", 0, 4, buffer).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reader->ReadPiece("nope", 0, 4, buffer).status().code(), StatusCode::kNotFound);

  // A flipped byte in the middle piece: every piece still reads, the
  // combined CRC does not match.
  std::string damaged = *mem.ReadFile(data_path);
  damaged[2000] = static_cast<char>(damaged[2000] ^ 0x10);
  ASSERT_TRUE(mem.SetFileContent(data_path, damaged).ok());
  auto damaged_reader = OpenOrDie(&mem, "/p/ckpt");
  ASSERT_NE(damaged_reader, nullptr);
  crc = read_in_pieces(*damaged_reader, out);
  ASSERT_TRUE(crc.ok()) << crc.status();
  EXPECT_EQ(damaged_reader->CheckCrc("w", *crc).code(), StatusCode::kDataLoss);
}

// A bundle in /b/ckpt with a float tensor "f" [4] and a string tensor "s".
void WriteSmallBundle(MemoryFileSystem* mem) {
  auto writer = BundleWriter::Open(mem, "/b/ckpt");
  ASSERT_TRUE(writer.ok());
  const std::vector<float> f = {1, 2, 3, 4};
  ASSERT_TRUE((*writer)->Add("f", DType::kFloat32, {4}, f.data(), 16).ok());
  ASSERT_TRUE((*writer)->AddStrings("s", {2}, {"hello", "world"}).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
}

TEST(BundleCorruption, EveryDataByteFlipIsDataLossNamingKeyAndFile) {
  MemoryFileSystem mem;
  WriteSmallBundle(&mem);
  const std::string data_path = "/b/ckpt.data-00000-of-00001";
  const std::string data = *mem.ReadFile(data_path);
  ASSERT_EQ(data.size(), 16u + 2 + 4 + 10);
  for (size_t i = 0; i < data.size(); ++i) {
    std::string damaged = data;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    ASSERT_TRUE(mem.SetFileContent(data_path, damaged).ok());
    auto reader = OpenOrDie(&mem, "/b/ckpt");
    ASSERT_NE(reader, nullptr);
    const std::string key = i < 16 ? "f" : "s";
    Status status = key == "f" ? reader->ReadBytes("f").status() : reader->ReadStrings("s").status();
    ASSERT_EQ(status.code(), StatusCode::kDataLoss) << "byte " << i << ": " << status;
    EXPECT_NE(status.message().find("'" + key + "'"), std::string::npos) << status;
    EXPECT_NE(status.message().find(data_path), std::string::npos) << status;
    // The other tensor is unaffected.
    if (key == "f") {
      EXPECT_TRUE(reader->ReadStrings("s").ok());
    } else {
      EXPECT_TRUE(reader->ReadBytes("f").ok());
    }
  }
}

TEST(BundleCorruption, TruncatedDataFile) {
  MemoryFileSystem mem;
  WriteSmallBundle(&mem);
  const std::string data_path = "/b/ckpt.data-00000-of-00001";
  const std::string data = *mem.ReadFile(data_path);
  for (size_t n = 0; n < data.size(); ++n) {
    ASSERT_TRUE(mem.SetFileContent(data_path, data.substr(0, n)).ok());
    auto reader = OpenOrDie(&mem, "/b/ckpt");
    ASSERT_NE(reader, nullptr);
    Status s = reader->ReadStrings("s").status();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << s;
    if (n < 16) {
      std::vector<float> out(4);
      Status f = reader->Read("f", out.data(), 16);
      EXPECT_EQ(f.code(), StatusCode::kDataLoss);
      EXPECT_NE(f.message().find(data_path), std::string::npos);
      EXPECT_EQ(reader->ReadBytes("f").status().code(), StatusCode::kDataLoss);
    }
  }
}

TEST(BundleCorruption, IndexByteFlipsAndTruncations) {
  MemoryFileSystem mem;
  WriteSmallBundle(&mem);
  const std::string index = *mem.ReadFile("/b/ckpt.index");
  int detected = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    std::string damaged = index;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x04);
    ASSERT_TRUE(mem.SetFileContent("/b/ckpt.index", damaged).ok());
    auto reader = BundleReader::Open(&mem, "/b/ckpt");
    if (!reader.ok()) {
      EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss) << reader.status();
      EXPECT_NE(reader.status().message().find("/b/ckpt.index"), std::string::npos);
      ++detected;
    }
  }
  EXPECT_GE(detected, static_cast<int>(index.size()) - 40);  // only footer padding is inert
  for (size_t n = 0; n < index.size(); ++n) {
    ASSERT_TRUE(mem.SetFileContent("/b/ckpt.index", index.substr(0, n)).ok());
    auto reader = BundleReader::Open(&mem, "/b/ckpt");
    EXPECT_EQ(reader.status().code(), StatusCode::kDataLoss);
  }
}

// Index entries that lie (CRC-valid index, inconsistent entry) are DataLoss at read.
TEST(BundleCorruption, InconsistentEntries) {
  MemoryFileSystem mem;
  WriteSmallBundle(&mem);
  auto base = OpenOrDie(&mem, "/b/ckpt");
  ASSERT_NE(base, nullptr);
  tf::BundleEntryProto f = *base->Entry("f");
  auto write_index = [&mem](const tf::BundleEntryProto& entry) {
    ASSERT_TRUE(WriteBundleIndex(&mem, "/b/ckpt.index", 1, {{"f", entry}}).ok());
  };
  tf::BundleEntryProto bad = f;
  bad.set_size(1LL << 60);  // does not match shape, huge
  write_index(bad);
  EXPECT_EQ(OpenOrDie(&mem, "/b/ckpt")->ReadBytes("f").status().code(), StatusCode::kDataLoss);
  bad = f;
  bad.mutable_shape()->mutable_dim(0)->set_size(1LL << 40);
  bad.set_size(4LL << 40);  // consistent but beyond the file
  write_index(bad);
  auto status = OpenOrDie(&mem, "/b/ckpt")->ReadBytes("f").status();
  EXPECT_EQ(status.code(), StatusCode::kDataLoss);
  EXPECT_NE(status.message().find("truncated"), std::string::npos) << status;
  bad = f;
  bad.set_offset(-5);
  write_index(bad);
  EXPECT_EQ(OpenOrDie(&mem, "/b/ckpt")->ReadBytes("f").status().code(), StatusCode::kDataLoss);
  bad = f;
  bad.mutable_shape()->mutable_dim(0)->set_size(-1);
  write_index(bad);
  EXPECT_EQ(OpenOrDie(&mem, "/b/ckpt")->ReadBytes("f").status().code(), StatusCode::kDataLoss);
  bad = f;
  bad.set_dtype(static_cast<tf::DataType>(21));  // variant
  write_index(bad);
  EXPECT_EQ(OpenOrDie(&mem, "/b/ckpt")->ReadBytes("f").status().code(),
            StatusCode::kUnimplemented);
}

TEST(BundleReader, PartitionedEntriesAreListedButUnsupported) {
  MemoryFileSystem mem;
  WriteSmallBundle(&mem);
  auto base = OpenOrDie(&mem, "/b/ckpt");
  ASSERT_NE(base, nullptr);
  tf::BundleEntryProto full;
  full.set_dtype(tf::DT_FLOAT);
  full.mutable_shape()->add_dim()->set_size(8);
  full.add_slices()->add_extent()->set_start(0);
  full.add_slices()->add_extent()->set_start(4);
  tf::BundleEntryProto piece = *base->Entry("f");
  ASSERT_TRUE(WriteBundleIndex(&mem, "/b/ckpt.index", 1,
                               {{"part", full},
                                {std::string("\0\x04part\x01", 7), piece},
                                {"f", *base->Entry("f")}})
                  .ok());
  auto reader = OpenOrDie(&mem, "/b/ckpt");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->Keys(), (std::vector<std::string>{"f", "part"}));
  EXPECT_TRUE(reader->IsPartitioned("part"));
  EXPECT_FALSE(reader->IsPartitioned("f"));
  std::vector<float> out(8);
  Status status = reader->Read("part", out.data(), 32);
  EXPECT_EQ(status.code(), StatusCode::kUnimplemented);
  EXPECT_NE(status.message().find("partitioned tensor"), std::string::npos) << status;
  EXPECT_TRUE(reader->ReadBytes("f").ok());
}

TEST(BundleReader, BigEndianBundlesAreSwapped) {
  MemoryFileSystem mem;
  ASSERT_TRUE(mem.CreateDirs("/be").ok());
  const std::string data = std::string("\x3f\x80\x00\x00\x40\x00\x00\x00", 8);  // 1.0f, 2.0f BE
  auto file = mem.NewWritableFile("/be/ckpt.data-00000-of-00001");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append(data).ok());
  ASSERT_TRUE((*file)->Close().ok());
  tf::BundleHeaderProto header;
  header.set_num_shards(1);
  header.set_endianness(tf::BundleHeaderProto::BIG);
  header.mutable_version()->set_producer(1);
  tf::BundleEntryProto entry;
  entry.set_dtype(tf::DT_FLOAT);
  entry.mutable_shape()->add_dim()->set_size(2);
  entry.set_size(8);
  entry.set_crc32c(Crc32cMask(Crc32c(data.data(), data.size())));
  auto table = BuildTable({{"", header.SerializeAsString()}, {"x", entry.SerializeAsString()}});
  ASSERT_TRUE(table.ok());
  auto index = mem.NewWritableFile("/be/ckpt.index");
  ASSERT_TRUE(index.ok());
  ASSERT_TRUE((*index)->Append(*table).ok());
  ASSERT_TRUE((*index)->Close().ok());
  auto reader = OpenOrDie(&mem, "/be/ckpt");
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(ReadVector<float>(*reader, "x"), (std::vector<float>{1.0f, 2.0f}));

  // A header from a newer producer that we must not read.
  header.set_endianness(tf::BundleHeaderProto::LITTLE);
  header.mutable_version()->set_min_consumer(7);
  table = BuildTable({{"", header.SerializeAsString()}});
  index = mem.NewWritableFile("/be/ckpt.index");
  ASSERT_TRUE((*index)->Append(*table).ok());
  ASSERT_TRUE((*index)->Close().ok());
  EXPECT_EQ(BundleReader::Open(&mem, "/be/ckpt").status().code(),
            StatusCode::kFailedPrecondition);
  // No header at all.
  table = BuildTable({{"x", entry.SerializeAsString()}});
  index = mem.NewWritableFile("/be/ckpt.index");
  ASSERT_TRUE((*index)->Append(*table).ok());
  ASSERT_TRUE((*index)->Close().ok());
  EXPECT_EQ(BundleReader::Open(&mem, "/be/ckpt").status().code(), StatusCode::kDataLoss);
}

// Random mutations of real bundles (index and data): never a crash.
TEST(BundleCorruption, RandomMutationsOfRealBundlesNeverCrash) {
  SKIP_WITHOUT_TESTDATA();
  std::mt19937 rng(99);
  for (const std::string& prefix : RealPrefixes()) {
    const std::string index = *PosixFileSystem()->ReadFile(IndexFilename(prefix));
    const std::string data = *PosixFileSystem()->ReadFile(DataFilename(prefix, 0, 1));
    for (int round = 0; round < 150; ++round) {
      MemoryFileSystem mem;
      ASSERT_TRUE(mem.CreateDirs("/m").ok());
      std::string i2 = index, d2 = data;
      std::string& target = rng() % 2 ? i2 : d2;
      if (!target.empty()) {
        for (int f = 0; f < 1 + static_cast<int>(rng() % 3); ++f) {
          target[rng() % target.size()] = static_cast<char>(rng());
        }
        if (rng() % 4 == 0) target.resize(rng() % target.size());
      }
      for (const auto& [path, content] :
           {std::pair<std::string, std::string>{"/m/v.index", i2},
            std::pair<std::string, std::string>{"/m/v.data-00000-of-00001", d2}}) {
        auto file = mem.NewWritableFile(path);
        ASSERT_TRUE(file.ok());
        ASSERT_TRUE((*file)->Append(content).ok());
      }
      auto reader = BundleReader::Open(&mem, "/m/v");
      if (!reader.ok()) continue;
      for (const auto& key : (*reader)->Keys()) {
        auto entry = (*reader)->Entry(key);
        if (!entry.ok()) continue;
        if (entry->dtype() == tf::DT_STRING) {
          (*reader)->ReadStrings(key).status().IgnoreError();
        } else {
          (*reader)->ReadBytes(key).status().IgnoreError();
        }
      }
    }
  }
}

}  // namespace
}  // namespace shardtrain::storage
