// Sgemm (gemm.h): one OpenBLAS call per block of output rows or columns.
//
// Threading: one thread pool only. OpenBLAS is switched to one thread (once,
// process-wide) and a large product is split into disjoint blocks of output
// rows or columns, one OpenBLAS call per OpenMP thread. Two pools on two cores
// (libgomp workers spinning after an elementwise region while OpenBLAS's
// threads wait for the same cores) made Adam followed by a Dense step ~5x
// slower. Each output element is still one sgemm dot product over the full K,
// so results do not depend on timing.
#include "kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <mutex>

#include "kernels/cpu/thread_plan.h"

namespace shardtrain::kernels::cpu {
namespace {

// Products with fewer multiply-adds than this run as one sgemm on the caller.
constexpr int64_t kGemmParallelMacs = 1 << 20;
// Blocks of output rows/columns are multiples of this (whole SIMD panels).
constexpr int64_t kGemmBlockAlign = 16;

void UseSingleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// One cblas_sgemm: C (m, n) [ldc] = op(A) · op(B) + beta · C.
void SgemmBlock(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<blasint>(m), static_cast<blasint>(n),
              static_cast<blasint>(k), 1.0f, a, static_cast<blasint>(lda), b,
              static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

}  // namespace

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c) {
  UseSingleThreadedBlas();
  if (omp_in_parallel()) {
    SgemmBlock(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, n);
    return;
  }
  ApplyCpuThreadPlan();
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

}  // namespace shardtrain::kernels::cpu
