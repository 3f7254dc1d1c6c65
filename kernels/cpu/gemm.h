// Row-major sgemm for the CPU kernels (dense.cc, conv.cc): OpenBLAS switched
// to one thread process-wide, with large products split over the OpenMP
// threads into disjoint blocks of output rows or columns (never along k), so
// each output element is one sgemm dot product over the full k and results do
// not depend on the thread count. gemm.cc explains why one pool only.
#pragma once

#include <cstdint>

namespace shardtrain::kernels::cpu {

// C (m, n) [row stride n] = op(A) · op(B) + beta · C. A is stored (m, k) or,
// when trans_a, (k, m) with row stride lda; B is stored (k, n) or, when
// trans_b, (n, k) with row stride ldb. Called inside a parallel region it runs
// as one sgemm on the calling thread.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c);

}  // namespace shardtrain::kernels::cpu
