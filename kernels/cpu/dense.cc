// Dense layer and bias kernels on the CPU: OpenBLAS sgemm with the transposes
// expressed through CblasTrans (no transposed copies), bias folded into the
// forward sgemm via beta = 1, bias gradients summed in row order.
//
// Threading: one thread pool only. OpenBLAS is switched to one thread (once,
// process-wide) and a large product is split into disjoint blocks of output
// rows or columns, one OpenBLAS call per OpenMP thread. Two pools on two cores
// (libgomp workers spinning after an elementwise region while OpenBLAS's
// threads wait for the same cores) made Adam followed by a Dense step ~5x
// slower. Each output element is still one sgemm dot product over the full K,
// so results do not depend on timing.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

constexpr int64_t kBiasColumnBlock = 256;
// Products with fewer multiply-adds than this run as one sgemm on the caller.
constexpr int64_t kGemmParallelMacs = 1 << 20;
// Blocks of output rows/columns are multiples of this (whole SIMD panels).
constexpr int64_t kGemmBlockAlign = 16;

void UseSingleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// C (m, n) [ldc] = op(A) · op(B) + beta · C, row-major. A is stored (m, k) or,
// when trans_a, (k, m) with row stride lda; B is stored (k, n) or, when
// trans_b, (n, k) with row stride ldb.
void SgemmBlock(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

// The same product, split over OpenMP threads along the larger of m and n
// (never along k) when it is large enough.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c) {
  UseSingleThreadedBlas();
  if (!omp_in_parallel()) ApplyCpuThreadPlan();
  const int64_t threads = omp_get_max_threads();
  if (threads <= 1 || m * n * k < kGemmParallelMacs) {
    SgemmBlock(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, n);
    return;
  }
  const bool split_rows = m > n;
  const int64_t extent = split_rows ? m : n;
  const int64_t block =
      ((extent + threads - 1) / threads + kGemmBlockAlign - 1) / kGemmBlockAlign * kGemmBlockAlign;
  const int64_t blocks = (extent + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < blocks; ++t) {
    const int64_t lo = t * block;
    const int64_t len = std::min(extent, lo + block) - lo;
    if (split_rows) {
      // Rows [lo, lo+len) of C need rows [lo, lo+len) of op(A).
      const float* a_block = trans_a ? a + lo : a + lo * lda;
      SgemmBlock(trans_a, trans_b, len, n, k, a_block, lda, b, ldb, beta, c + lo * n, n);
    } else {
      // Columns [lo, lo+len) of C need columns [lo, lo+len) of op(B).
      const float* b_block = trans_b ? b + lo * ldb : b + lo;
      SgemmBlock(trans_a, trans_b, m, len, k, a, lda, b_block, ldb, beta, c + lo, n);
    }
  }
}

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
