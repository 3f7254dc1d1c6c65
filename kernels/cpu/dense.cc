// Dense layer and bias kernels on the CPU: sgemm (gemm.h, which explains the
// threading) with the transposes expressed through CblasTrans (no transposed
// copies), bias folded into the forward sgemm via beta = 1, bias gradients
// summed in row order.
#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

constexpr int64_t kBiasColumnBlock = 256;

}  // namespace

void DenseForward(const float* x, const float* w, const float* b, float* y, int64_t batch,
                  int64_t in, int64_t out) {
  if (batch == 0 || out == 0) return;
  // y (batch, out) = b broadcast over rows (or 0), then y += x (batch, in) · w (in, out).
  if (b != nullptr) {
    for (int64_t r = 0; r < batch; ++r) std::memcpy(y + r * out, b, sizeof(float) * out);
  }
  if (in == 0) {
    if (b == nullptr) Fill(y, 0.0f, batch * out);
    return;
  }
  Sgemm(false, false, batch, out, in, x, in, w, out, b != nullptr ? 1.0f : 0.0f, y);
}

void DenseBackward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                   int64_t batch, int64_t in, int64_t out) {
  if (batch == 0 || out == 0) {
    Fill(dw, 0.0f, in * out);
    if (db != nullptr) Fill(db, 0.0f, out);
    if (dx != nullptr) Fill(dx, 0.0f, batch * in);
    return;
  }
  if (in > 0) {
    // dw (in, out) = xᵀ (in, batch) · dy (batch, out); x is stored (batch, in).
    Sgemm(true, false, in, out, batch, x, in, dy, out, 0.0f, dw);
    // dx (batch, in) = dy (batch, out) · wᵀ (out, in); w is stored (in, out).
    if (dx != nullptr) Sgemm(false, true, batch, in, out, dy, out, w, out, 0.0f, dx);
  }
  // db (out) = Σ_batch dy.
  if (db != nullptr) BiasGrad(dy, db, batch, out);
}

void BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) {
  // y (rows, cols) += b (cols)
  ParallelFor(
      rows, rows * cols >= kParallelThreshold,
      [=](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          float* row = y + r * cols;
          for (int64_t c = 0; c < cols; ++c) row[c] += b[c];
        }
      },
      1);
}

void BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) {
  // db (cols) = Σ_r dy (rows, cols)[r]: each column is summed in row order, and
  // threads own disjoint column blocks, so the result is independent of threads.
  const int64_t blocks = (cols + kBiasColumnBlock - 1) / kBiasColumnBlock;
  ParallelFor(
      blocks, rows * cols >= kParallelThreshold,
      [=](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
          const int64_t c0 = blk * kBiasColumnBlock;
          const int64_t width = std::min(cols, c0 + kBiasColumnBlock) - c0;
          float* out = db + c0;
          for (int64_t c = 0; c < width; ++c) out[c] = 0.0f;
          for (int64_t r = 0; r < rows; ++r) {
            const float* row = dy + r * cols + c0;
            for (int64_t c = 0; c < width; ++c) out[c] += row[c];
          }
        }
      },
      1);
}

}  // namespace shardtrain::kernels::cpu
