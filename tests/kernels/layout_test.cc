// Add and the column copies (Concatenate and its gradient) on the CPU
// backend: exact values, aliasing, and a concatenate/split round trip.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/backend.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels {
namespace {

TEST(AddTest, SumsAndAllowsAliasing) {
  auto backend = CreateCpuBackend();
  std::vector<float> a = {1, 2, 3}, b = {10, 20, 30}, y(3);
  backend->Add(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{11, 22, 33}));
  backend->Add(a.data(), b.data(), a.data(), 3);  // y == a
  EXPECT_EQ(a, (std::vector<float>{11, 22, 33}));
  backend->Add(a.data(), b.data(), b.data(), 3);  // y == b
  EXPECT_EQ(b, (std::vector<float>{21, 42, 63}));
  backend->Add(b.data(), b.data(), b.data(), 3);  // all three
  EXPECT_EQ(b, (std::vector<float>{42, 84, 126}));
}

TEST(AddTest, LargeBuffersMatchElementwiseSum) {
  const int64_t n = (1 << 17) + 3;  // split over threads
  const auto a = testing::RandomVector(n, 1), b = testing::RandomVector(n, 2);
  std::vector<float> y(n);
  CreateCpuBackend()->Add(a.data(), b.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], a[i] + b[i]) << i;
}

TEST(CopyColumnsTest, IntoPlacesABlockOfColumns) {
  // dst (2, 5), src (2, 2) into columns [1, 3).
  const std::vector<float> src = {1, 2, 3, 4};
  std::vector<float> dst(10, 0.0f);
  CreateCpuBackend()->CopyColumnsInto(src.data(), 2, 2, dst.data(), 5, 1);
  EXPECT_EQ(dst, (std::vector<float>{0, 1, 2, 0, 0, 0, 3, 4, 0, 0}));
}

TEST(CopyColumnsTest, FromTakesABlockOfColumns) {
  const std::vector<float> src = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};  // (2, 5)
  std::vector<float> dst(6, -1.0f);
  CreateCpuBackend()->CopyColumnsFrom(src.data(), 2, 5, 2, dst.data(), 3);
  EXPECT_EQ(dst, (std::vector<float>{2, 3, 4, 7, 8, 9}));
}

TEST(CopyColumnsTest, ConcatenateThenSplitRoundTrips) {
  // Concatenate (rows, 3) and (rows, 4) along the last axis, then split back.
  const int64_t rows = 7;
  const auto a = testing::RandomVector(rows * 3, 3), b = testing::RandomVector(rows * 4, 4);
  auto backend = CreateCpuBackend();
  std::vector<float> joined(rows * 7), a_back(rows * 3), b_back(rows * 4);
  backend->CopyColumnsInto(a.data(), rows, 3, joined.data(), 7, 0);
  backend->CopyColumnsInto(b.data(), rows, 4, joined.data(), 7, 3);
  EXPECT_EQ(joined[7 * 2 + 3], b[4 * 2]);  // row 2, first column of b
  backend->CopyColumnsFrom(joined.data(), rows, 7, 0, a_back.data(), 3);
  backend->CopyColumnsFrom(joined.data(), rows, 7, 3, b_back.data(), 4);
  EXPECT_EQ(a_back, a);
  EXPECT_EQ(b_back, b);
}

}  // namespace
}  // namespace shardtrain::kernels
