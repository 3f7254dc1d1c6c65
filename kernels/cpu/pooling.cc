// 2-D max and average pooling on the CPU, NHWC (out_c == in_c). Padding
// positions are skipped: a max ignores them, an average divides by the
// window's real input count (TF). MaxPool's gradient goes to the first
// maximum in row-major window order (TF MaxPoolGrad). Each batch example is
// independent, so examples are split over threads; results do not depend on
// the thread count.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

// The real input rows [y0, y1) and columns [x0, x1) of output pixel (oy, ox).
struct Window {
  int64_t y0, y1, x0, x1;
  int64_t count() const { return (y1 - y0) * (x1 - x0); }
};

Window WindowAt(const Conv2DGeometry& g, int64_t oy, int64_t ox) {
  const int64_t top = oy * g.stride_h - g.pad_top;
  const int64_t left = ox * g.stride_w - g.pad_left;
  return Window{std::max<int64_t>(top, 0), std::min(top + g.window_h, g.in_h),
                std::max<int64_t>(left, 0), std::min(left + g.window_w, g.in_w)};
}

// Calls body(n0, n1) on disjoint ranges of examples, split over threads.
template <typename RangeBody>
void ForExampleRanges(const Conv2DGeometry& g, const RangeBody& body) {
  // In double: a SAME window may be far larger than the input it is clipped to.
  const double work = static_cast<double>(g.batch * g.out_h * g.out_w * g.out_c) *
                      static_cast<double>(g.window_h) * static_cast<double>(g.window_w);
  ParallelFor(g.batch, work >= static_cast<double>(kParallelThreshold), body, 1);
}

// Calls body(n, oy, ox, window) for every output pixel, examples split over threads.
template <typename Body>
void ForEachOutputPixel(const Conv2DGeometry& g, const Body& body) {
  ForExampleRanges(g, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        for (int64_t ox = 0; ox < g.out_w; ++ox) body(n, oy, ox, WindowAt(g, oy, ox));
      }
    }
  });
}

// dx += the window's d (in_c) routed, per channel, to the first maximum
// scanning the window row-major: a later position replaces it only when
// strictly greater. Branch-free selects over float / int32 lanes with the
// channels innermost, so the scan vectorizes; `at` holds pixel offsets from
// the window's first pixel (no division to decode). best, at: in_c floats/ints.
void RouteToFirstMaximum(const Conv2DGeometry& g, int64_t n, const Window& win, const float* x,
                         const float* d, float* best, int32_t* at, float* dx) {
  const int64_t c_count = g.in_c;
  const int64_t first = (n * g.in_h + win.y0) * g.in_w + win.x0;  // the window's first pixel
  for (int64_t iy = win.y0; iy < win.y1; ++iy) {
    for (int64_t ix = win.x0; ix < win.x1; ++ix) {
      const float* in = x + ((n * g.in_h + iy) * g.in_w + ix) * c_count;
      const int32_t pos = static_cast<int32_t>((iy - win.y0) * g.in_w + (ix - win.x0));
      for (int64_t c = 0; c < c_count; ++c) {
        const bool take = pos == 0 || in[c] > best[c];
        best[c] = take ? in[c] : best[c];
        at[c] = take ? pos : at[c];
      }
    }
  }
  for (int64_t c = 0; c < c_count; ++c) dx[(first + at[c]) * c_count + c] += d[c];
}

}  // namespace

void MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  const int64_t c_count = g.in_c;
  ForEachOutputPixel(g, [&](int64_t n, int64_t oy, int64_t ox, const Window& win) {
    float* out = y + ((n * g.out_h + oy) * g.out_w + ox) * c_count;
    std::fill(out, out + c_count, win.count() > 0 ? -std::numeric_limits<float>::infinity() : 0.0f);
    for (int64_t iy = win.y0; iy < win.y1; ++iy) {
      for (int64_t ix = win.x0; ix < win.x1; ++ix) {
        const float* in = x + ((n * g.in_h + iy) * g.in_w + ix) * c_count;
        for (int64_t c = 0; c < c_count; ++c) out[c] = std::max(out[c], in[c]);
      }
    }
  });
}

void MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy, float* dx) {
  Fill(dx, 0.0f, g.batch * g.in_h * g.in_w * g.in_c);  // split over threads when large
  ForExampleRanges(g, [&](int64_t n0, int64_t n1) {
    std::vector<float> best(static_cast<size_t>(g.in_c));
    std::vector<int32_t> at(static_cast<size_t>(g.in_c));
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        for (int64_t ox = 0; ox < g.out_w; ++ox) {
          const Window win = WindowAt(g, oy, ox);
          if (win.count() == 0) continue;
          const float* d = dy + ((n * g.out_h + oy) * g.out_w + ox) * g.in_c;
          RouteToFirstMaximum(g, n, win, x, d, best.data(), at.data(), dx);
        }
      }
    }
  });
}

void AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  const int64_t c_count = g.in_c;
  ForEachOutputPixel(g, [&](int64_t n, int64_t oy, int64_t ox, const Window& win) {
    float* out = y + ((n * g.out_h + oy) * g.out_w + ox) * c_count;
    std::fill(out, out + c_count, 0.0f);
    for (int64_t iy = win.y0; iy < win.y1; ++iy) {
      for (int64_t ix = win.x0; ix < win.x1; ++ix) {
        const float* in = x + ((n * g.in_h + iy) * g.in_w + ix) * c_count;
        for (int64_t c = 0; c < c_count; ++c) out[c] += in[c];
      }
    }
    if (win.count() == 0) return;
    const float count = static_cast<float>(win.count());
    for (int64_t c = 0; c < c_count; ++c) out[c] /= count;
  });
}

void AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) {
  const int64_t c_count = g.in_c;
  Fill(dx, 0.0f, g.batch * g.in_h * g.in_w * c_count);  // split over threads when large
  ForEachOutputPixel(g, [&](int64_t n, int64_t oy, int64_t ox, const Window& win) {
    if (win.count() == 0) return;
    const float* d = dy + ((n * g.out_h + oy) * g.out_w + ox) * c_count;
    const float count = static_cast<float>(win.count());
    for (int64_t iy = win.y0; iy < win.y1; ++iy) {
      for (int64_t ix = win.x0; ix < win.x1; ++ix) {
        float* out = dx + ((n * g.in_h + iy) * g.in_w + ix) * c_count;
        for (int64_t c = 0; c < c_count; ++c) out[c] += d[c] / count;
      }
    }
  });
}

}  // namespace shardtrain::kernels::cpu
