// 2-D convolution on the CPU, NHWC input and Keras's (kh, kw, in_c, out_c)
// kernel; zero padding per Conv2DGeometry. Direct loops: each output pixel
// accumulates its window in a fixed (ky, kx, c) order, so results do not
// depend on threads.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"

namespace shardtrain::kernels::cpu {
namespace {

// Calls body(ky, kx, x_pixel_offset) for every real input of output pixel
// (b, oy, ox); the offset is of the pixel's first channel in x.
template <typename Body>
void ForEachWindowInput(const Conv2DGeometry& g, int64_t b, int64_t oy, int64_t ox,
                        const Body& body) {
  for (int64_t ky = 0; ky < g.window_h; ++ky) {
    const int64_t iy = oy * g.stride_h - g.pad_top + ky;
    if (iy < 0 || iy >= g.in_h) continue;
    for (int64_t kx = 0; kx < g.window_w; ++kx) {
      const int64_t ix = ox * g.stride_w - g.pad_left + kx;
      if (ix < 0 || ix >= g.in_w) continue;
      body(ky, kx, ((b * g.in_h + iy) * g.in_w + ix) * g.in_c);
    }
  }
}

}  // namespace

void Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w, const float* b,
                   float* y) {
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        float* out = y + ((n * g.out_h + oy) * g.out_w + ox) * g.out_c;
        for (int64_t o = 0; o < g.out_c; ++o) out[o] = b != nullptr ? b[o] : 0.0f;
        ForEachWindowInput(g, n, oy, ox, [&](int64_t ky, int64_t kx, int64_t xoff) {
          const float* w_tap = w + (ky * g.window_w + kx) * g.in_c * g.out_c;
          for (int64_t c = 0; c < g.in_c; ++c) {
            const float xv = x[xoff + c];
            const float* w_row = w_tap + c * g.out_c;
            for (int64_t o = 0; o < g.out_c; ++o) out[o] += xv * w_row[o];
          }
        });
      }
    }
  }
}

void Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w, const float* dy,
                    float* dx, float* dw, float* db) {
  const int64_t pixels = g.batch * g.out_h * g.out_w;
  std::fill(dw, dw + g.window_h * g.window_w * g.in_c * g.out_c, 0.0f);
  if (dx != nullptr) std::fill(dx, dx + g.batch * g.in_h * g.in_w * g.in_c, 0.0f);
  if (db != nullptr) BiasGrad(dy, db, pixels, g.out_c);
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const float* d = dy + ((n * g.out_h + oy) * g.out_w + ox) * g.out_c;
        ForEachWindowInput(g, n, oy, ox, [&](int64_t ky, int64_t kx, int64_t xoff) {
          const int64_t tap = (ky * g.window_w + kx) * g.in_c * g.out_c;
          for (int64_t c = 0; c < g.in_c; ++c) {
            const float xv = x[xoff + c];
            float* dw_row = dw + tap + c * g.out_c;
            const float* w_row = w + tap + c * g.out_c;
            float dxv = 0.0f;
            for (int64_t o = 0; o < g.out_c; ++o) {
              dw_row[o] += xv * d[o];
              dxv += w_row[o] * d[o];
            }
            if (dx != nullptr) dx[xoff + c] += dxv;
          }
        });
      }
    }
  }
}

}  // namespace shardtrain::kernels::cpu
