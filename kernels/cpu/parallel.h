// ParallelFor: how kernels/cpu splits loops over OpenMP threads. Small loops
// run as a plain loop on the calling thread (an OpenMP region, even with an
// if(false) clause, costs several times a 16k-element relu); large ones are cut
// into one contiguous range per thread. Ranges are disjoint and each element's
// result is computed the same way on every path, so results do not depend on
// the number of threads or on timing. The thread count follows
// thread_plan.h (the cores of this rank's share of its node).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/thread_plan.h"

namespace shardtrain::kernels::cpu {

// Calls body(begin, end) on disjoint ranges that cover [0, n). Splits only when
// `parallel` is true, more than one thread is available and we are not already
// inside a parallel region. Range starts are multiples of `grain`.
template <typename Body>
inline void ParallelFor(int64_t n, bool parallel, const Body& body, int64_t grain = 64) {
  if (n <= 0) return;
  if (!omp_in_parallel()) ApplyCpuThreadPlan();
  if (!parallel || omp_get_max_threads() <= 1 || omp_in_parallel()) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t chunk = ((n + threads - 1) / threads + grain - 1) / grain * grain;
    const int64_t begin = std::min(n, omp_get_thread_num() * chunk);
    const int64_t end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

}  // namespace shardtrain::kernels::cpu
