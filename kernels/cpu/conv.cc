// 2-D convolution on the CPU as im2col + sgemm, NHWC input and Keras's
// (kh, kw, in_c, out_c) kernel, which as a matrix is (K = kh·kw·in_c, out_c)
// with im2col columns ordered (ky, kx, c); zero padding per Conv2DGeometry.
//
// The batch is cut into chunks of whole examples whose im2col rows fit in
// kColsChunkBytes (one thread-local scratch per thread), and chunks run in
// parallel. Forward: y_chunk = cols · W (+ b). Backward: dW = Σ colsᵀ · dy and
// db = Σ dy over the chunks of each of a fixed number of groups (sgemm with
// beta = 1 after a group's first chunk), the groups' partial sums added in
// group order; dx_chunk = col2im(dy · Wᵀ), each chunk writing only its own
// examples. The chunk and group plan depends on the geometry only, so results
// do not depend on the thread count. A 1x1, stride-1 convolution reads its
// input rows as the im2col rows and writes dx directly.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

// The im2col scratch of one chunk stays under this (at least one example).
constexpr int64_t kColsChunkBytes = 512 << 10;
// dW/db are summed in at most this many partial sums (threads take whole groups)...
constexpr int64_t kMaxWeightGradGroups = 8;
// ...whose buffers together stay under this (at least one group).
constexpr int64_t kWeightGradPartialBytes = 32 << 20;

struct ConvPlan {
  int64_t k = 0;           // im2col width kh·kw·in_c
  int64_t out_pixels = 0;  // out_h·out_w per example
  int64_t in_floats = 0;   // in_h·in_w·in_c per example
  int64_t chunk_examples = 1;
  int64_t chunks = 0;
  bool direct = false;  // 1x1, stride 1, unpadded: x rows are the im2col rows
};

ConvPlan PlanConv(const Conv2DGeometry& g) {
  ConvPlan p;
  p.k = g.window_h * g.window_w * g.in_c;
  p.out_pixels = g.out_h * g.out_w;
  p.in_floats = g.in_h * g.in_w * g.in_c;
  p.direct = g.window_h == 1 && g.window_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
             g.pad_top == 0 && g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
  const int64_t example_bytes = std::max<int64_t>(p.out_pixels * p.k * 4, 1);
  const int64_t max_examples = std::max<int64_t>(kColsChunkBytes / example_bytes, 1);
  const int64_t chunks = (g.batch + max_examples - 1) / max_examples;
  p.chunk_examples = (g.batch + chunks - 1) / chunks;  // balanced chunk sizes
  p.chunks = (g.batch + p.chunk_examples - 1) / p.chunk_examples;
  return p;
}

// A thread's im2col scratch of at least `floats` floats.
float* Scratch(int64_t floats) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < floats) scratch.resize(static_cast<size_t>(floats));
  return scratch.data();
}

// The kernel columns kx in [kx0, kx1) of output column ox that fall inside the
// input, the first of them at input column ix0. Consecutive kx read
// consecutive input pixels, so a window row is one contiguous span.
struct ColumnSpan {
  int64_t kx0, kx1, ix0;
};

ColumnSpan SpanAt(const Conv2DGeometry& g, int64_t ox) {
  const int64_t left = ox * g.stride_w - g.pad_left;
  const int64_t kx0 = std::max<int64_t>(-left, 0);
  const int64_t kx1 = std::max(kx0, std::min(g.window_w, g.in_w - left));
  return ColumnSpan{kx0, kx1, left + kx0};
}

// cols (examples·out_pixels, K) = the windows of `examples` images at x.
void Im2Col(const Conv2DGeometry& g, const float* x, int64_t examples, float* cols) {
  const int64_t c = g.in_c, row_floats = g.window_w * c;
  float* row = cols;
  for (int64_t n = 0; n < examples; ++n) {
    const float* image = x + n * g.in_h * g.in_w * c;
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const ColumnSpan s = SpanAt(g, ox);
        for (int64_t ky = 0; ky < g.window_h; ++ky, row += row_floats) {
          const int64_t iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= g.in_h || s.kx0 == s.kx1) {
            std::fill(row, row + row_floats, 0.0f);
            continue;
          }
          std::fill(row, row + s.kx0 * c, 0.0f);
          std::memcpy(row + s.kx0 * c, image + (iy * g.in_w + s.ix0) * c,
                      sizeof(float) * (s.kx1 - s.kx0) * c);
          std::fill(row + s.kx1 * c, row + row_floats, 0.0f);
        }
      }
    }
  }
}

// dx (`examples` images, overwritten) = the adjoint of Im2Col: each dcols
// entry added to the input it was copied from, in row order.
void Col2Im(const Conv2DGeometry& g, const float* dcols, int64_t examples, float* dx) {
  const int64_t c = g.in_c, row_floats = g.window_w * c;
  std::fill(dx, dx + examples * g.in_h * g.in_w * c, 0.0f);
  const float* row = dcols;
  for (int64_t n = 0; n < examples; ++n) {
    float* image = dx + n * g.in_h * g.in_w * c;
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const ColumnSpan s = SpanAt(g, ox);
        for (int64_t ky = 0; ky < g.window_h; ++ky, row += row_floats) {
          const int64_t iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= g.in_h || s.kx0 == s.kx1) continue;
          float* dst = image + (iy * g.in_w + s.ix0) * c;
          const float* src = row + s.kx0 * c;
          for (int64_t i = 0; i < (s.kx1 - s.kx0) * c; ++i) dst[i] += src[i];
        }
      }
    }
  }
}

// The im2col rows of examples [n0, n0 + examples): x itself when direct.
const float* ColsOf(const Conv2DGeometry& g, const ConvPlan& p, const float* x, int64_t n0,
                    int64_t examples) {
  const float* images = x + n0 * p.in_floats;
  if (p.direct) return images;
  float* cols = Scratch(examples * p.out_pixels * p.k);
  Im2Col(g, images, examples, cols);
  return cols;
}

void ForwardChunk(const Conv2DGeometry& g, const ConvPlan& p, int64_t chunk, const float* x,
                  const float* w, const float* b, float* y) {
  const int64_t n0 = chunk * p.chunk_examples;
  const int64_t examples = std::min(g.batch, n0 + p.chunk_examples) - n0;
  const int64_t rows = examples * p.out_pixels;
  float* y_chunk = y + n0 * p.out_pixels * g.out_c;
  if (b != nullptr) {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(y_chunk + r * g.out_c, b, sizeof(float) * g.out_c);
  }
  const float* cols = ColsOf(g, p, x, n0, examples);
  Sgemm(false, false, rows, g.out_c, p.k, cols, p.k, w, g.out_c, b != nullptr ? 1.0f : 0.0f,
        y_chunk);
}

// Where one group of chunks sums its part of dW (K, out_c) and db (out_c; null: skipped).
struct WeightGradSums {
  float* dw;
  float* db;
};

// db += (or, when first, =) the column sums of dy (rows, cols), in row order.
void AddColumnSums(const float* dy, int64_t rows, int64_t cols, bool first, float* db) {
  if (first) std::fill(db, db + cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) db[c] += dy[r * cols + c];
  }
}

// Chunks [c0, c1): their dW and db into `sums`, their dx (may be null) in place.
void BackwardChunks(const Conv2DGeometry& g, const ConvPlan& p, int64_t c0, int64_t c1,
                    const float* x, const float* w, const float* dy, float* dx,
                    const WeightGradSums& sums) {
  for (int64_t chunk = c0; chunk < c1; ++chunk) {
    const int64_t n0 = chunk * p.chunk_examples;
    const int64_t examples = std::min(g.batch, n0 + p.chunk_examples) - n0;
    const int64_t rows = examples * p.out_pixels;
    const float* dy_chunk = dy + n0 * p.out_pixels * g.out_c;
    const bool first = chunk == c0;
    // dW (K, out_c) (+)= colsᵀ (K, rows) · dy (rows, out_c).
    const float* cols = ColsOf(g, p, x, n0, examples);
    Sgemm(true, false, p.k, g.out_c, rows, cols, p.k, dy_chunk, g.out_c, first ? 0.0f : 1.0f,
          sums.dw);
    if (sums.db != nullptr) AddColumnSums(dy_chunk, rows, g.out_c, first, sums.db);
    if (dx == nullptr) continue;
    // dcols (rows, K) = dy (rows, out_c) · Wᵀ (out_c, K), reusing the scratch.
    float* dx_chunk = dx + n0 * p.in_floats;
    float* dcols = p.direct ? dx_chunk : Scratch(rows * p.k);
    Sgemm(false, true, rows, p.k, g.out_c, dy_chunk, g.out_c, w, g.out_c, 0.0f, dcols);
    if (!p.direct) Col2Im(g, dcols, examples, dx_chunk);
  }
}

// The number of dW partial sums: fixed by the geometry, never by the threads.
int64_t WeightGradGroups(const ConvPlan& p, int64_t out_c) {
  const int64_t partial_bytes = std::max<int64_t>((p.k + 1) * out_c * 4, 1);
  const int64_t by_memory = std::max<int64_t>(kWeightGradPartialBytes / partial_bytes, 1);
  return std::max<int64_t>(std::min({p.chunks, kMaxWeightGradGroups, by_memory}), 1);
}

}  // namespace

void Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w, const float* b,
                   float* y) {
  if (g.batch <= 0 || g.out_h * g.out_w * g.out_c == 0) return;
  const ConvPlan p = PlanConv(g);
  ParallelFor(
      p.chunks, p.chunks > 1,
      [&](int64_t c0, int64_t c1) {
        for (int64_t chunk = c0; chunk < c1; ++chunk) ForwardChunk(g, p, chunk, x, w, b, y);
      },
      1);
}

void Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w, const float* dy,
                    float* dx, float* dw, float* db) {
  const ConvPlan p = PlanConv(g);
  const int64_t dw_size = p.k * g.out_c;
  if (g.batch <= 0 || p.out_pixels == 0) {
    std::fill(dw, dw + dw_size, 0.0f);
    if (db != nullptr) std::fill(db, db + g.out_c, 0.0f);
    if (dx != nullptr) std::fill(dx, dx + g.batch * p.in_floats, 0.0f);
    return;
  }
  // Group 0 sums into dw/db, group i > 0 into partial[i - 1]; chunks split evenly.
  const int64_t groups = WeightGradGroups(p, g.out_c);
  const int64_t partial_size = dw_size + g.out_c;
  std::vector<float> partial(static_cast<size_t>((groups - 1) * partial_size));
  ParallelFor(
      groups, groups > 1,
      [&](int64_t g0, int64_t g1) {
        for (int64_t grp = g0; grp < g1; ++grp) {
          WeightGradSums sums{dw, db};
          if (grp > 0) {
            float* mine = partial.data() + (grp - 1) * partial_size;
            sums = WeightGradSums{mine, db != nullptr ? mine + dw_size : nullptr};
          }
          BackwardChunks(g, p, grp * p.chunks / groups, (grp + 1) * p.chunks / groups, x, w, dy, dx,
                         sums);
        }
      },
      1);
  for (int64_t grp = 1; grp < groups; ++grp) {
    const float* mine = partial.data() + (grp - 1) * partial_size;
    for (int64_t i = 0; i < dw_size; ++i) dw[i] += mine[i];
    if (db == nullptr) continue;
    for (int64_t o = 0; o < g.out_c; ++o) db[o] += mine[dw_size + o];
  }
}

}  // namespace shardtrain::kernels::cpu
