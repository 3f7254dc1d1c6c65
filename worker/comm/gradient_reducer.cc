// GradientReducer: bucketed AllReduceSum plus one scalar reduction.
// Thread-safety: see gradient_reducer.h.
#include "worker/comm/gradient_reducer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "worker/comm/staged_bucket_reducer.h"

namespace shardtrain::comm {
namespace {

constexpr double kMaxExactCount = 9007199254740992.0;  // 2^53

}  // namespace

GradientReducer::GradientReducer(Communicator* comm, int64_t num_floats, int64_t bucket_bytes)
    : comm_(comm),
      num_floats_(num_floats),
      bucket_bytes_(std::max<int64_t>(bucket_bytes, sizeof(float))),
      buckets_(PlanBuckets(num_floats, bucket_bytes)) {}

GradientReducer::~GradientReducer() = default;
GradientReducer::GradientReducer(GradientReducer&&) noexcept = default;
GradientReducer& GradientReducer::operator=(GradientReducer&&) noexcept = default;

StatusOr<std::unique_ptr<GradientReducer>> GradientReducer::CreateForDevice(
    Communicator* comm, kernels::KernelBackend* backend, int64_t num_floats, int64_t bucket_bytes) {
  if (backend == nullptr) return InvalidArgumentError("GradientReducer: null backend");
  auto reducer = std::make_unique<GradientReducer>(comm, num_floats, bucket_bytes);
  if (comm == nullptr || backend->host_reads_device_memory() || !comm->touches_buffers()) {
    return reducer;
  }
  if (comm->sums_device_memory()) {
    ASSIGN_OR_RETURN(reducer->backward_done_, backend->CreateEvent());
    reducer->wait_backend_ = backend;
  } else {
    ASSIGN_OR_RETURN(reducer->staged_, StagedBucketReducer::Create(backend, reducer->buckets_));
  }
  return reducer;
}

std::vector<Bucket> GradientReducer::PlanBuckets(int64_t num_floats, int64_t bucket_bytes) {
  std::vector<Bucket> buckets;
  if (num_floats <= 0) return buckets;
  const int64_t per_bucket =
      std::max<int64_t>(1, bucket_bytes / static_cast<int64_t>(sizeof(float)));
  buckets.reserve(static_cast<size_t>((num_floats + per_bucket - 1) / per_bucket));
  for (int64_t offset = 0; offset < num_floats; offset += per_bucket) {
    buckets.push_back(Bucket{offset, std::min(per_bucket, num_floats - offset)});
  }
  return buckets;
}

Status GradientReducer::AllReduce(float* grads, double* loss_sum, int64_t* examples,
                                  int64_t* correct) {
  if (comm_ == nullptr) return FailedPreconditionError("GradientReducer: null communicator");
  if (num_floats_ < 0) {
    return InvalidArgumentError("GradientReducer: negative gradient size " +
                                std::to_string(num_floats_));
  }
  if (num_floats_ > 0 && grads == nullptr) {
    return InvalidArgumentError("GradientReducer: null gradient buffer");
  }
  if (staged_ != nullptr) {
    RETURN_IF_ERROR(staged_->AllReduce(*comm_, grads, buckets_));
  } else {
    if (wait_backend_ != nullptr) RETURN_IF_ERROR(WaitForBackward());
    RETURN_IF_ERROR(AllReduceBucketsInPlace(grads));
  }
  return AllReduceScalars(loss_sum, examples, correct);
}

Status GradientReducer::AllReduceBucketsInPlace(float* grads) {
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const Bucket& bucket = buckets_[i];
    Status status = comm_->AllReduceSum(grads + bucket.offset, bucket.count, DType::kFloat32);
    if (!status.ok()) {
      return status.WithContext("gradient bucket " + std::to_string(i) + " of " +
                                std::to_string(buckets_.size()));
    }
  }
  return OkStatus();
}

Status GradientReducer::WaitForBackward() {
  wait_backend_->RecordEvent(backward_done_, kernels::Stream::kCompute);
  Status status = wait_backend_->WaitEvent(backward_done_);
  return status.WithContext("GradientReducer: waiting for the backward before the allreduce");
}

Status GradientReducer::AllReduceScalars(double* loss_sum, int64_t* examples, int64_t* correct) {
  if (comm_ == nullptr) return FailedPreconditionError("GradientReducer: null communicator");
  double scalars[3] = {
      loss_sum != nullptr ? *loss_sum : 0.0,
      examples != nullptr ? static_cast<double>(*examples) : 0.0,
      correct != nullptr ? static_cast<double>(*correct) : 0.0,
  };
  Status status = comm_->AllReduceSumHostScalars(scalars, 3);
  if (!status.ok()) return status.WithContext("step scalars (loss, examples, correct)");
  if (std::fabs(scalars[1]) > kMaxExactCount || std::fabs(scalars[2]) > kMaxExactCount) {
    return OutOfRangeError("GradientReducer: summed counts exceed 2^53 and are not exact");
  }
  if (loss_sum != nullptr) *loss_sum = scalars[0];
  if (examples != nullptr) *examples = std::llround(scalars[1]);
  if (correct != nullptr) *correct = std::llround(scalars[2]);
  return OkStatus();
}

}  // namespace shardtrain::comm
