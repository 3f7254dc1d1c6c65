// Tests for the data-conversion readers of storage/arrays: typed .npy data of
// every supported dtype, .npz archives (stored and deflated members written
// here with libzip, a damaged CRC, a missing key) and CSV files with a header.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zip.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "storage/arrays/csv_file.h"
#include "storage/arrays/npy_data.h"
#include "storage/arrays/npz_file.h"

namespace shardtrain::storage {
namespace {

// A version 1.0 .npy file's bytes with this dtype, shape and data.
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
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

void ExpectError(const Status& status, StatusCode code, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status;
  for (const auto& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos) << needle << " in " << status;
  }
}

class NpzArraysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "shardtrain_npz_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // An .npz archive of these (key, npy bytes) members, each compressed with `method`.
  std::string WriteNpz(const std::string& name,
                       const std::vector<std::pair<std::string, std::string>>& members,
                       int32_t method) {
    const std::string path = dir_ + "/" + name;
    int error = 0;
    zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
    EXPECT_NE(zip, nullptr);
    for (const auto& [key, bytes] : members) {
      zip_source_t* source = zip_source_buffer(zip, bytes.data(), bytes.size(), 0);
      const zip_int64_t index = zip_file_add(zip, (key + ".npy").c_str(), source, 0);
      EXPECT_GE(index, 0);
      zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), method, 0);
    }
    EXPECT_EQ(zip_close(zip), 0);
    return path;
  }
  std::string dir_;
};

TEST_F(NpzArraysTest, NpyDataReadsEveryDtype) {
  struct Case {
    std::string descr, name, data;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"|b1", "bool", std::string("\x01\x00\x01\x01", 4), {1, 0, 1, 1}},
      {"|u1", "uint8", std::string("\x00\x07\xff\x10", 4), {0, 7, 255, 16}},
      {"|i1", "int8", std::string("\xff\x02\x80\x00", 4), {-1, 2, -128, 0}},
      {"<i4", "int32", RawBytes<int32_t>({-5, 0, 9, 1 << 30}), {-5, 0, 9, 1 << 30}},
      {"<i8",
       "int64",
       RawBytes<int64_t>({int64_t{1} << 40, -2, 3, 4}),
       {1099511627776.0, -2, 3, 4}},
      {"<f4", "float32", RawBytes<float>({0.5f, -1.25f, 3, 1e-3f}), {0.5, -1.25, 3, 1e-3f}},
      {"<f8", "float64", RawBytes<double>({0.1, -2.5, 1e300, 4}), {0.1, -2.5, 1e300, 4}},
  };
  for (const Case& c : cases) {
    auto data = ReadNpyData(Write(c.name + ".npy", NpyBytes(c.descr, "(2, 2)", c.data)));
    ASSERT_TRUE(data.ok()) << c.descr << ": " << data.status();
    EXPECT_EQ(data->dtype_name(), c.name);
    EXPECT_EQ(data->rows(), 2);
    EXPECT_EQ(data->row_size(), 2);
    EXPECT_EQ(data->is_integer(), c.name.find("float") == std::string::npos);
    for (size_t i = 0; i < c.expected.size(); ++i) {
      EXPECT_EQ(data->ValueAsDouble(static_cast<int64_t>(i)), c.expected[i]) << c.descr << " " << i;
    }
  }
}

TEST_F(NpzArraysTest, NpyDataRefusesOtherDtypesAndBadSizes) {
  ExpectError(ReadNpyData(Write("be.npy", NpyBytes(">f4", "(1,)", std::string(4, '\0')))).status(),
              StatusCode::kInvalidArgument, {"be.npy", "'>f4'", "little-endian"});
  ExpectError(ReadNpyData(Write("c8.npy", NpyBytes("<c8", "(1,)", std::string(8, '\0')))).status(),
              StatusCode::kInvalidArgument, {"c8.npy", "'<c8'"});
  ExpectError(
      ReadNpyData(Write("short.npy", NpyBytes("<i8", "(2, 3)", std::string(40, '\0')))).status(),
      StatusCode::kDataLoss, {"short.npy", "needs 48 bytes", "row 1"});
  ExpectError(
      ReadNpyData(Write("huge.npy", NpyBytes("<f8", "(4294967296, 4294967296)", ""))).status(),
      StatusCode::kDataLoss, {"huge.npy", "2^64"});
  // No rows, but a row of 2^32 * 2^31 float64 values: refused at the header.
  ExpectError(
      ReadNpyData(Write("wide.npy", NpyBytes("<f8", "(0, 4294967296, 2147483648)", ""))).status(),
      StatusCode::kDataLoss, {"wide.npy", "2^63"});
  ExpectError(ReadNpyData(dir_ + "/absent.npy").status(), StatusCode::kNotFound, {"absent.npy"});
}

TEST_F(NpzArraysTest, NpzReadsStoredAndDeflatedMembers) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> y = {0, 9, 4};
  for (const int32_t method : {ZIP_CM_STORE, ZIP_CM_DEFLATE}) {
    const std::string path = WriteNpz("data" + std::to_string(method) + ".npz",
                                      {{"x_train", NpyBytes("<f4", "(3, 2)", RawBytes(x))},
                                       {"y_train", NpyBytes("<i8", "(3,)", RawBytes(y))}},
                                      method);
    auto features = ReadNpzArray(path, "x_train");
    ASSERT_TRUE(features.ok()) << features.status();
    EXPECT_EQ(features->shape, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(features->data, RawBytes(x));
    auto labels = ReadNpzArray(path, "y_train");
    ASSERT_TRUE(labels.ok()) << labels.status();
    EXPECT_EQ(labels->ValueAsInt64(1), 9);
    ExpectError(ReadNpzArray(path, "x_test").status(), StatusCode::kInvalidArgument,
                {"x_test", "x_train, y_train"});
  }
}

TEST_F(NpzArraysTest, NpzDamageIsDataLoss) {
  const std::string payload(64, 'A');
  const std::string path =
      WriteNpz("crc.npz", {{"x", NpyBytes("|u1", "(64,)", payload)}}, ZIP_CM_STORE);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = bytes.find(payload);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 10] = 'B';  // same size, wrong CRC-32
  ExpectError(ReadNpzArray(Write("crc.npz", bytes), "x").status(), StatusCode::kDataLoss,
              {"crc.npz:x.npy", "CRC"});
  ExpectError(ReadNpzArray(Write("text.npz", "not a zip"), "x").status(), StatusCode::kDataLoss,
              {"text.npz"});
  ExpectError(ReadNpzArray(dir_ + "/absent.npz", "x").status(), StatusCode::kNotFound,
              {"absent.npz"});
  // A member declaring ~3.75 GiB that inflates to a few bytes: DataLoss,
  // without allocating the declared size first.
  const std::string small =
      WriteNpz("declared.npz", {{"x", std::string(100, 'x')}}, ZIP_CM_DEFLATE);
  std::ifstream small_in(small, std::ios::binary);
  std::string archive((std::istreambuf_iterator<char>(small_in)), std::istreambuf_iterator<char>());
  const auto set_size = [&](size_t at) { archive.replace(at, 4, "\x00\x00\x00\xf0", 4); };
  set_size(archive.find("PK\x03\x04") + 22);  // local header: uncompressed size
  set_size(archive.find("PK\x01\x02") + 24);  // central directory: uncompressed size
  ExpectError(ReadNpzArray(Write("declared.npz", archive), "x").status(), StatusCode::kDataLoss,
              {"declared.npz:x.npy", "4026531840"});
  const std::string bad_member = WriteNpz("member.npz", {{"x", "not npy bytes"}}, ZIP_CM_DEFLATE);
  ExpectError(ReadNpzArray(bad_member, "x").status(), StatusCode::kDataLoss,
              {"member.npz:x.npy", "magic"});
}

TEST_F(NpzArraysTest, CsvWithHeaderNamesColumnsAndSpotsIntegers) {
  auto table = ReadCsvWithHeader(Write("h.csv", "0,1,label\n0.5,2,3\n-1,4,+0\n"));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->header, (std::vector<std::string>{"0", "1", "label"}));
  EXPECT_EQ(table->rows, 2);
  EXPECT_EQ(table->integer_columns, (std::vector<bool>{false, true, true}));
  EXPECT_EQ(table->values, (std::vector<float>{0.5f, 2, 3, -1, 4, 0}));
  EXPECT_EQ(table->integers, (std::vector<int64_t>{0, 2, 3, -1, 4, 0}));
  // Integers are exact beyond float32's 2^24 and saturate beyond int64.
  auto wide = ReadCsvWithHeader(Write("w.csv", "a,b\n16777217,-99999999999999999999\n"));
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ(wide->integers, (std::vector<int64_t>{16777217, INT64_MIN}));
  ExpectError(ReadCsvWithHeader(Write("only.csv", "a,b\n")).status(), StatusCode::kInvalidArgument,
              {"only.csv", "no rows"});
  ExpectError(ReadCsvWithHeader(Write("bad.csv", "a,b\n1,2\n3,x\n")).status(),
              StatusCode::kInvalidArgument, {"bad.csv:3", "'x'"});
  auto plain = ReadCsv(Write("plain.csv", "1,2\n3,4\n"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->header.empty());
  EXPECT_EQ(plain->rows, 2);
}

}  // namespace
}  // namespace shardtrain::storage
