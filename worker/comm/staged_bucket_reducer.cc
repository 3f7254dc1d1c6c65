// StagedBucketReducer: device buckets summed on the host through pinned
// staging buffers. The ordering contract is in staged_bucket_reducer.h.
#include "worker/comm/staged_bucket_reducer.h"

#include <algorithm>
#include <string>
#include <utility>

namespace shardtrain::comm {

using kernels::Stream;

StatusOr<std::unique_ptr<StagedBucketReducer>> StagedBucketReducer::Create(
    kernels::KernelBackend* backend, const std::vector<Bucket>& buckets) {
  if (backend == nullptr) return InvalidArgumentError("StagedBucketReducer: null backend");
  std::unique_ptr<StagedBucketReducer> reducer(new StagedBucketReducer(backend));
  int64_t largest = 0;
  for (const Bucket& bucket : buckets) largest = std::max(largest, bucket.count);
  const int slots = std::min<int>(kSlots, static_cast<int>(buckets.size()));
  for (int slot = 0; slot < slots; ++slot) {
    ASSIGN_OR_RETURN(kernels::PinnedBuffer buffer,
                     backend->AllocatePinned(largest * static_cast<int64_t>(sizeof(float)),
                                             "gradient staging bucket " + std::to_string(slot)));
    reducer->staging_.push_back(std::move(buffer));
  }
  for (kernels::Event& event : reducer->copied_) {
    ASSIGN_OR_RETURN(event, backend->CreateEvent());
  }
  ASSIGN_OR_RETURN(reducer->backward_done_, backend->CreateEvent());
  ASSIGN_OR_RETURN(reducer->reduced_, backend->CreateEvent());
  return reducer;
}

Status StagedBucketReducer::AllReduce(Communicator& comm, float* device_grads,
                                      const std::vector<Bucket>& buckets) {
  backend_->RecordEvent(backward_done_, Stream::kCompute);
  backend_->StreamWaitEvent(Stream::kCommunication, backward_done_);
  const size_t slots = staging_.size();
  if (!buckets.empty()) StartCopyToHost(device_grads, buckets[0], 0);
  Status status;
  for (size_t k = 0; k < buckets.size() && status.ok(); ++k) {
    if (k + 1 < buckets.size()) {
      StartCopyToHost(device_grads, buckets[k + 1], static_cast<int>((k + 1) % slots));
    }
    status = ReduceStagedBucket(comm, device_grads, buckets[k], static_cast<int>(k % slots));
    if (!status.ok()) {
      status = status.WithContext("gradient bucket " + std::to_string(k) + " of " +
                                  std::to_string(buckets.size()));
    }
  }
  backend_->RecordEvent(reduced_, Stream::kCommunication);
  backend_->StreamWaitEvent(Stream::kCompute, reduced_);
  return status;
}

void StagedBucketReducer::StartCopyToHost(const float* device_grads, const Bucket& bucket,
                                          int slot) {
  backend_->CopyToHost(staging_[slot].data(), device_grads + bucket.offset,
                       bucket.count * static_cast<int64_t>(sizeof(float)), Stream::kCommunication);
  backend_->RecordEvent(copied_[slot], Stream::kCommunication);
}

Status StagedBucketReducer::ReduceStagedBucket(Communicator& comm, float* device_grads,
                                               const Bucket& bucket, int slot) {
  Status copied = backend_->WaitEvent(copied_[slot]);
  if (!copied.ok()) return copied.WithContext("copying it to the host");
  float* staged = staging_[slot].floats();
  RETURN_IF_ERROR(comm.AllReduceSum(staged, bucket.count, DType::kFloat32));
  backend_->CopyToDevice(device_grads + bucket.offset, staged,
                         bucket.count * static_cast<int64_t>(sizeof(float)),
                         Stream::kCommunication);
  return OkStatus();
}

}  // namespace shardtrain::comm
