// kernels::WindowGeometry: TF's output sizes and pads for "valid" and "same"
// (out = ceil(in / stride), pad total = max((out - 1) stride + window - in, 0),
// the odd one at the bottom/right), per axis, and the empty-output cases.
#include <gtest/gtest.h>

#include "kernels/backend.h"

namespace shardtrain::kernels {
namespace {

struct AxisCase {
  bool same;
  int64_t in, window, stride;
  int64_t out, pad_before;  // expected
};

// Each case is worked by hand from the formula above (TF's conv_ops shape rule).
const AxisCase kCases[] = {
    {false, 28, 3, 1, 26, 0},  // the reference CNN's first conv
    {false, 26, 2, 2, 13, 0},  // its 2x2 max pool
    {false, 13, 3, 1, 11, 0},  // its second conv
    {false, 7, 3, 2, 3, 0},    // (7 - 3) / 2 + 1
    {false, 8, 3, 2, 3, 0},    // the last input row is unused
    {true, 28, 3, 2, 14, 0},   // total (13·2 + 3 - 28) = 1: all at the bottom
    {true, 28, 3, 1, 28, 1},   // total 2: one each side
    {true, 7, 4, 1, 7, 1},     // total 3: top 1, bottom 2
    {true, 5, 2, 2, 3, 0},     // total 1
    {true, 5, 3, 2, 3, 1},     // total 2
    {true, 6, 1, 3, 2, 0},     // total max(3 + 1 - 6, 0) = 0
    {true, 1, 5, 1, 1, 2},     // total 4 around a single pixel
};

TEST(WindowGeometryTest, MatchesTfShapesAndPads) {
  for (const AxisCase& c : kCases) {
    Conv2DGeometry g;
    g.in_h = c.in;
    g.window_h = c.window;
    g.stride_h = c.stride;
    g.in_w = c.in + 1;  // the other axis is computed independently
    g.window_w = 1;
    g.stride_w = 1;
    ASSERT_TRUE(WindowGeometry(c.same, &g)) << c.in << " " << c.window << " " << c.stride;
    EXPECT_EQ(g.out_h, c.out) << c.same << " " << c.in << " " << c.window << " " << c.stride;
    EXPECT_EQ(g.pad_top, c.pad_before) << c.same << " " << c.in << " " << c.window;
    EXPECT_EQ(g.out_w, c.in + 1);
    EXPECT_EQ(g.pad_left, 0);
  }
}

TEST(WindowGeometryTest, ColumnsUseTheirOwnWindowAndStride) {
  Conv2DGeometry g;
  g.in_h = 28, g.in_w = 28, g.window_h = 3, g.window_w = 4, g.stride_h = 1, g.stride_w = 2;
  ASSERT_TRUE(WindowGeometry(true, &g));
  EXPECT_EQ(g.out_h, 28);
  EXPECT_EQ(g.pad_top, 1);
  EXPECT_EQ(g.out_w, 14);
  EXPECT_EQ(g.pad_left, 1);  // total 13·2 + 4 - 28 = 2
}

TEST(WindowGeometryTest, EmptyOutputsAreRejected) {
  Conv2DGeometry g;
  g.in_h = 2, g.in_w = 5, g.window_h = 3, g.window_w = 3;
  EXPECT_FALSE(WindowGeometry(false, &g));  // valid: window taller than the input
  EXPECT_TRUE(WindowGeometry(true, &g));    // same pads instead
  g.stride_h = 0;
  EXPECT_FALSE(WindowGeometry(true, &g));
  g.stride_h = 1, g.in_h = 0;
  EXPECT_FALSE(WindowGeometry(true, &g));
}

}  // namespace
}  // namespace shardtrain::kernels
