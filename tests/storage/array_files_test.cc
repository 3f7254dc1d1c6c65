// Tests for storage/arrays: .npy and CSV readers and writers, round trips and
// every documented error code, each message naming the file (and row/line).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "storage/arrays/csv_file.h"
#include "storage/arrays/npy_file.h"

namespace shardtrain::storage {
namespace {

class ArrayFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "shardtrain_arrays_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // A version 1.0 .npy file with this header dict and data.
  std::string WriteNpyFile(const std::string& name, std::string header, const std::string& data) {
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string bytes("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(header.size() & 0xff);
    bytes += static_cast<char>(header.size() >> 8);
    return Write(name, bytes + header + data);
  }
  std::string dir_;
};

void ExpectError(const Status& status, StatusCode code, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status;
  for (const auto& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos) << needle << " in " << status;
  }
}

TEST_F(ArrayFilesTest, NpyFloatRoundTrip) {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.1f, 1e-30f, 7.0f};
  const std::string path = dir_ + "/out.npy";
  ASSERT_TRUE(WriteNpy(path, values, 2, 3).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ((bytes.size() - values.size() * 4) % 64, 0u);  // NumPy's header alignment
  auto array = ReadNpy(path);
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->dtype, NpyArray::DType::kFloat32);
  EXPECT_EQ(array->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(array->floats, values);
  EXPECT_EQ(array->ShapeString(), "(2, 3)");
}

TEST_F(ArrayFilesTest, NpyUint8ImagesAndOneDimensional) {
  auto images = ReadNpy(
      WriteNpyFile("u8.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }",
                   std::string("\x00\x01\x02\x03\xfd\xfe\xff\x10", 8)));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->dtype, NpyArray::DType::kUint8);
  EXPECT_EQ(images->rows(), 2);
  EXPECT_EQ(images->row_size(), 4);
  EXPECT_EQ(images->bytes, (std::vector<uint8_t>{0, 1, 2, 3, 253, 254, 255, 16}));
  auto column = ReadNpy(
      WriteNpyFile("col.npy", "{'descr': '<u1', 'fortran_order': False, 'shape': (3,), }", "abc"));
  ASSERT_TRUE(column.ok()) << column.status();
  EXPECT_EQ(column->row_size(), 1);
  EXPECT_EQ(column->ShapeString(), "(3,)");
}

TEST_F(ArrayFilesTest, NpyErrorsNameTheFile) {
  ExpectError(ReadNpy(dir_ + "/absent.npy").status(), StatusCode::kNotFound, {"absent.npy"});
  ExpectError(ReadNpy(Write("text.npy", "hello, world")).status(), StatusCode::kDataLoss,
              {"text.npy", "not a .npy file"});
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  // 3 x 2 float32 need 24 bytes; 12 leave row 1 incomplete.
  ExpectError(ReadNpy(WriteNpyFile("short.npy", f4, std::string(12, '\0'))).status(),
              StatusCode::kDataLoss, {"short.npy", "(3, 2)", "24 bytes", "holds 12", "row 1"});
  ExpectError(ReadNpy(WriteNpyFile("long.npy", f4, std::string(28, '\0'))).status(),
              StatusCode::kDataLoss, {"long.npy", "holds 28"});
  ExpectError(
      ReadNpy(WriteNpyFile("noshape.npy", "{'descr': '<f4', 'fortran_order': False}", "")).status(),
      StatusCode::kDataLoss, {"noshape.npy", "header"});
  ExpectError(
      ReadNpy(WriteNpyFile("badshape.npy",
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (3, x), }", ""))
          .status(),
      StatusCode::kDataLoss, {"badshape.npy", "shape"});
  ExpectError(
      ReadNpy(WriteNpyFile("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
                           std::string(8, '\0')))
          .status(),
      StatusCode::kInvalidArgument, {"f8.npy", "'<f8'", "float32"});
  ExpectError(ReadNpy(WriteNpyFile("fortran.npy",
                                   "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }",
                                   std::string(4, '\0')))
                  .status(),
              StatusCode::kInvalidArgument, {"fortran.npy", "Fortran"});
}

TEST_F(ArrayFilesTest, CsvReadsNumbersSkippingHeaderAndBlankLines) {
  auto table = ReadCsv(Write("x.csv", "a,b,c\r\n1, 2.5 ,-3e2\r\n\n0.125,4,5\n"));
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->rows, 2);
  EXPECT_EQ(table->cols, 3);
  EXPECT_EQ(table->values, (std::vector<float>{1, 2.5f, -300, 0.125f, 4, 5}));
}

TEST_F(ArrayFilesTest, CsvRoundTripIsExact) {
  const std::vector<float> values = {0.1f, -1.0f / 3.0f, 1e-38f, 3.4e38f, 0.0f, 123456.789f};
  const std::string path = dir_ + "/out.csv";
  ASSERT_TRUE(WriteCsv(path, values, 3, 2).ok());
  auto table = ReadCsv(path);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->rows, 3);
  EXPECT_EQ(table->cols, 2);
  EXPECT_EQ(table->values, values);
}

TEST_F(ArrayFilesTest, CsvErrorsNameFileAndLine) {
  ExpectError(ReadCsv(dir_ + "/absent.csv").status(), StatusCode::kNotFound, {"absent.csv"});
  ExpectError(ReadCsv(Write("bad.csv", "1,2\n3,x4\n")).status(), StatusCode::kInvalidArgument,
              {"bad.csv:2", "value 2 'x4' is not a number"});
  ExpectError(ReadCsv(Write("ragged.csv", "h1,h2\n1,2\n\n3\n")).status(),
              StatusCode::kInvalidArgument, {"ragged.csv:4", "row has 1 values", "first row 2"});
  ExpectError(ReadCsv(Write("empty.csv", "x,y\n")).status(), StatusCode::kInvalidArgument,
              {"empty.csv", "no rows"});
  ExpectError(ReadCsv(Write("huge.csv", "1,1e39\n")).status(), StatusCode::kInvalidArgument,
              {"huge.csv:1", "'1e39' is not a number"});
  ExpectError(ReadCsv(Write("blank.csv", "1,,3\n")).status(), StatusCode::kInvalidArgument,
              {"blank.csv:1", "value 2 '' is not a number"});
}

}  // namespace
}  // namespace shardtrain::storage
