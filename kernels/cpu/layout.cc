// Elementwise sum and column-block copies on the CPU (residual Add and
// Concatenate along the last axis, and their gradients).
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {

void Add(const float* a, const float* b, float* y, int64_t n) {
  // Each y[i] reads only a[i] and b[i], so aliasing either input is safe.
  ParallelFor(n, n >= kParallelThreshold, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) y[i] = a[i] + b[i];
  });
}

void CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst, int64_t dst_cols,
                     int64_t col_offset) {
  if (src_cols <= 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * dst_cols + col_offset, src + r * src_cols, sizeof(float) * src_cols);
  }
}

void CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols, int64_t col_offset,
                     float* dst, int64_t dst_cols) {
  if (dst_cols <= 0) return;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(dst + r * dst_cols, src + r * src_cols + col_offset, sizeof(float) * dst_cols);
  }
}

}  // namespace shardtrain::kernels::cpu
