// Double-precision naive references for the window ops (conv, pooling) used by
// the kernel tests, written independently of kernels/cpu: every output pixel
// visits its full window and tests each position against the input bounds.
// Also Formula(), the small input formula of window_ops_reference.py.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/backend.h"

namespace shardtrain::kernels::testing {

// Value i of an n-vector: ((a i + b) mod m - m / 2) · scale (as the Python script).
inline std::vector<float> Formula(int64_t n, int64_t a, int64_t b, int64_t m, float scale) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>((a * i + b) % m - m / 2) * scale;
  return out;
}

inline int64_t InputIndex(const Conv2DGeometry& g, int64_t n, int64_t iy, int64_t ix, int64_t c) {
  return ((n * g.in_h + iy) * g.in_w + ix) * g.in_c + c;
}

inline bool Inside(const Conv2DGeometry& g, int64_t iy, int64_t ix) {
  return iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
}

// y (batch, out_h, out_w, out_c) of a zero-padded convolution, in double.
inline std::vector<double> ReferenceConv(const Conv2DGeometry& g, const std::vector<float>& x,
                                         const std::vector<float>& w, const float* b) {
  std::vector<double> y;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h; ++oy)
      for (int64_t ox = 0; ox < g.out_w; ++ox)
        for (int64_t o = 0; o < g.out_c; ++o) {
          double sum = b != nullptr ? b[o] : 0.0;
          for (int64_t ky = 0; ky < g.window_h; ++ky)
            for (int64_t kx = 0; kx < g.window_w; ++kx) {
              const int64_t iy = oy * g.stride_h - g.pad_top + ky;
              const int64_t ix = ox * g.stride_w - g.pad_left + kx;
              if (!Inside(g, iy, ix)) continue;
              for (int64_t c = 0; c < g.in_c; ++c) {
                const double wv = w[((ky * g.window_w + kx) * g.in_c + c) * g.out_c + o];
                sum += wv * x[InputIndex(g, n, iy, ix, c)];
              }
            }
          y.push_back(sum);
        }
  return y;
}

struct ConvGradients {
  std::vector<double> dx, dw, db;
};

// dx, dw, db of sum(dy · conv(x, w) + b) by direct accumulation, in double.
inline ConvGradients ReferenceConvGradients(const Conv2DGeometry& g, const std::vector<float>& x,
                                            const std::vector<float>& w,
                                            const std::vector<float>& dy) {
  ConvGradients r{std::vector<double>(x.size()), std::vector<double>(w.size()),
                  std::vector<double>(static_cast<size_t>(g.out_c))};
  int64_t out_index = 0;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h; ++oy)
      for (int64_t ox = 0; ox < g.out_w; ++ox)
        for (int64_t o = 0; o < g.out_c; ++o, ++out_index) {
          const double d = dy[out_index];
          r.db[o] += d;
          for (int64_t ky = 0; ky < g.window_h; ++ky)
            for (int64_t kx = 0; kx < g.window_w; ++kx) {
              const int64_t iy = oy * g.stride_h - g.pad_top + ky;
              const int64_t ix = ox * g.stride_w - g.pad_left + kx;
              if (!Inside(g, iy, ix)) continue;
              for (int64_t c = 0; c < g.in_c; ++c) {
                const int64_t wi = ((ky * g.window_w + kx) * g.in_c + c) * g.out_c + o;
                const int64_t xi = InputIndex(g, n, iy, ix, c);
                r.dw[wi] += d * x[xi];
                r.dx[xi] += d * w[wi];
              }
            }
        }
  return r;
}

// Max (is_max) or mean over each window's real inputs, in double.
inline std::vector<double> ReferencePool(const Conv2DGeometry& g, const std::vector<float>& x,
                                         bool is_max) {
  std::vector<double> y;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h; ++oy)
      for (int64_t ox = 0; ox < g.out_w; ++ox)
        for (int64_t c = 0; c < g.in_c; ++c) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0.0;
          int64_t count = 0;
          for (int64_t ky = 0; ky < g.window_h; ++ky)
            for (int64_t kx = 0; kx < g.window_w; ++kx) {
              const int64_t iy = oy * g.stride_h - g.pad_top + ky;
              const int64_t ix = ox * g.stride_w - g.pad_left + kx;
              if (!Inside(g, iy, ix)) continue;
              const double v = x[InputIndex(g, n, iy, ix, c)];
              best = std::max(best, v);
              sum += v;
              ++count;
            }
          y.push_back(is_max ? best : sum / static_cast<double>(count));
        }
  return y;
}

}  // namespace shardtrain::kernels::testing
