// What the CPU step benchmarks (train_bench, cnn_bench) share: the synthetic
// data they step on, the timed loop over Trainer::Step, and the GEMM floor
// (a step's matrix products alone, as plain OpenBLAS calls), so each
// benchmark states only its model and its products.
//
// Timing: a few warm-up calls, then calls until `seconds` have passed (at
// least 3); the result is the mean seconds per call. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::bench {

// One row-major sgemm: C (m x n) = op(A) (m x k) * op(B) (k x n).
struct Gemm {
  int64_t m, n, k;
  bool trans_a, trans_b;
};

// Seconds per Trainer::Step (in-memory batch gather, forward, loss, backward,
// optimizer) of the job `config_text` (a JobConfig text proto whose model
// takes `feature_size` floats) at `batch`, on synthetic pixels in [0, 1] and
// labels in [0, 10).
StatusOr<double> TrainerStepSeconds(const std::string& config_text, int64_t feature_size,
                                    int64_t batch, double seconds);

// Seconds per pass over `gemms` with distinct operands per product, the
// faster of OpenBLAS on 1 thread and on every core (OpenBLAS is left at 1
// thread after, as kernels/cpu runs it).
double GemmFloorSeconds(const std::vector<Gemm>& gemms, double seconds);

// Prints "shardtrain batch=B examples_per_sec=X step_ms=Y gemm_floor_ms=Z".
void PrintStepLine(int64_t batch, double step_seconds, double floor_seconds);

}  // namespace shardtrain::bench
