// GradientReducer: sums the flat gradient buffer and the step's scalars over
// ranks (DESIGN.md §3 "Collectives").
//
// The buffer of `num_floats` floats is reduced in buckets of at most
// `bucket_bytes` bytes, one AllReduceSum each; bucket count and boundaries are
// a pure function of (num_floats, bucket_bytes) (PlanBuckets). The default
// 25 MB keeps every call below 32 MiB, above which a single Open MPI 4.1
// MPI_Allreduce falls to 1.7-2.1 GB/s (docs/BENCHMARKS.md, "Allreduce on one
// node"). The loss sum, example count and correct count travel in one extra
// 3-double reduction (counts are exact in double up to 2^53). The result is a
// SUM: callers divide by the global example count, so a rank whose data ran
// out (0 examples, zero gradients) contributes nothing and the mean stays exact.
//
// Memory kind follows the communicator: host for mpi/local, device for nccl
// (the scalars are always host values).
//
// Thread-safety: thread-compatible, like the Communicator it uses.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "worker/comm/communicator.h"

namespace shardtrain::comm {

struct Bucket {
  int64_t offset = 0;  // first float
  int64_t count = 0;   // floats
  friend bool operator==(const Bucket&, const Bucket&) = default;
};

class GradientReducer {
 public:
  static constexpr int64_t kDefaultBucketBytes = 25 << 20;

  // `comm` must outlive the reducer. A bucket_bytes below sizeof(float) is
  // treated as one float; a negative num_floats makes AllReduce fail.
  GradientReducer(Communicator* comm, int64_t num_floats,
                  int64_t bucket_bytes = kDefaultBucketBytes);

  // Sums grads[0, num_floats) and the three scalars over ranks, in place. Any
  // scalar pointer may be null (contributes 0, not written back). OutOfRange
  // when a summed count is not exact in double (beyond 2^53).
  Status AllReduce(float* grads, double* loss_sum, int64_t* examples, int64_t* correct);
  // The scalars' part of AllReduce alone (for a caller that sums the
  // gradients another way, e.g. SliceReduction::ReduceAndUpdate).
  Status AllReduceScalars(double* loss_sum, int64_t* examples, int64_t* correct);

  const std::vector<Bucket>& buckets() const { return buckets_; }
  int64_t num_floats() const { return num_floats_; }
  int64_t bucket_bytes() const { return bucket_bytes_; }

  // Buckets [offset, offset + count) covering [0, num_floats) in order, each
  // of max(1, bucket_bytes / 4) floats except a shorter last one. Empty for
  // num_floats <= 0.
  static std::vector<Bucket> PlanBuckets(int64_t num_floats, int64_t bucket_bytes);

 private:
  Communicator* comm_;
  int64_t num_floats_;
  int64_t bucket_bytes_;
  std::vector<Bucket> buckets_;
};

}  // namespace shardtrain::comm
