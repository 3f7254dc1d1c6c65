// The convolution and pooling geometries the CUDA tests run (host element
// test and GPU parity test alike): valid and same padding, strides 1 and 2,
// odd sizes where "same" pads unevenly, 1x1 (CudaBackend's Dense path at
// stride 1) and non-square windows, one example or several. MakeGeometry
// fills the output size and pads through kernels::WindowGeometry, the one
// place that computes them.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace shardtrain::kernels::testing {

struct WindowCase {
  int64_t batch, in_h, in_w, in_c, out_c;  // pooling ignores out_c (== in_c)
  int64_t window_h, window_w, stride_h, stride_w;
  bool same;
};

inline std::vector<WindowCase> WindowCases() {
  return {
      {2, 7, 7, 3, 4, 3, 3, 1, 1, false},   // valid 3x3
      {2, 7, 6, 3, 5, 3, 3, 1, 1, true},    // same, even width
      {3, 9, 8, 2, 3, 3, 2, 2, 2, true},    // same, stride 2, uneven pad
      {1, 8, 8, 4, 6, 2, 2, 2, 2, false},   // the classic 2x2/2 pool
      {2, 6, 5, 5, 2, 1, 1, 1, 1, false},   // pointwise
      {2, 7, 7, 4, 6, 1, 1, 2, 2, true},    // 1x1 stride 2 (a ResNet shortcut)
      {2, 11, 10, 2, 3, 5, 4, 3, 2, true},  // large window, mixed strides
      {1, 5, 5, 1, 1, 3, 3, 1, 1, true},    // overlapping windows, one channel
      {1, 8, 7, 2, 3, 3, 3, 2, 2, false},   // valid, stride 2: last row/column unread
  };
}

// The Conv2DGeometry of case c (out_c = in_c when `pooling`).
inline Conv2DGeometry MakeGeometry(const WindowCase& c, bool pooling) {
  Conv2DGeometry g;
  g.batch = c.batch;
  g.in_h = c.in_h;
  g.in_w = c.in_w;
  g.in_c = c.in_c;
  g.out_c = pooling ? c.in_c : c.out_c;
  g.window_h = c.window_h;
  g.window_w = c.window_w;
  g.stride_h = c.stride_h;
  g.stride_w = c.stride_w;
  EXPECT_TRUE(WindowGeometry(c.same, &g));
  return g;
}

// "2x7x7x3 w3x3 s1x1 valid" for failure messages.
inline std::string Describe(const WindowCase& c) {
  return std::to_string(c.batch) + "x" + std::to_string(c.in_h) + "x" + std::to_string(c.in_w) +
         "x" + std::to_string(c.in_c) + " w" + std::to_string(c.window_h) + "x" +
         std::to_string(c.window_w) + " s" + std::to_string(c.stride_h) + "x" +
         std::to_string(c.stride_w) + (c.same ? " same" : " valid");
}

// n values from {-2, -1, 0, 1, 2} / 2: many ties, so max pooling's
// first-maximum routing is exercised.
inline std::vector<float> TiedValues(int64_t n, uint32_t seed) {
  std::vector<float> out(static_cast<size_t>(n));
  uint32_t state = seed * 2654435761u + 1u;
  for (float& v : out) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<float>(static_cast<int>((state >> 16) % 5u) - 2) * 0.5f;
  }
  return out;
}

}  // namespace shardtrain::kernels::testing
