// DeferredStreamsBackend: a test backend that executes each stream's work
// LATE, so code that forgets an event between streams reads stale data.
//
// Memory and kernels are the CPU backend's, but host_reads_device_memory() is
// false (callers must use copies) and copies are not run when enqueued: each
// stream keeps a queue that runs only when something needs it. WaitEvent runs
// the event's stream up to its recorded point; StreamWaitEvent enqueues a task
// that does the same when the waiting stream reaches it (the event's point is
// taken when StreamWaitEvent is called, as CUDA does); Synchronize runs
// everything. A kernel runs the kCompute queue first, then itself at once.
// So a read whose ordering relies on a missing StreamWaitEvent or WaitEvent
// sees the memory before the work it should have waited for: the schedule a
// real device is allowed to pick. Host access to device memory is NOT caught
// here (the strict device does that).
//
// Waiting on an event never recorded, or a wait cycle between streams, is
// FailedPrecondition from CheckErrors/WaitEvent/Synchronize. pending(stream)
// says how many tasks a stream has not run yet. Single-threaded.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kernels/backend.h"

namespace shardtrain::comm::testing {

using kernels::Activation;
using kernels::AdamParams;
using kernels::Conv2DGeometry;
using kernels::DeviceBuffer;
using kernels::DropoutKey;
using kernels::Event;
using kernels::PinnedBuffer;
using kernels::RmspropParams;
using kernels::SgdParams;
using kernels::Stream;

class DeferredStreamsBackend final : public kernels::KernelBackend,
                                     private kernels::MemoryReleaser {
 public:
  DeferredStreamsBackend() : cpu_(kernels::CreateCpuBackend()) {}
  // Work still queued is dropped: its buffers may be gone.
  ~DeferredStreamsBackend() override = default;

  std::string_view name() const override { return "deferred"; }
  Device device() const override { return Device::kCpu; }
  Status CheckErrors() override;

  StatusOr<DeviceBuffer> AllocateDevice(int64_t bytes, std::string_view what) override {
    return cpu_->AllocateDevice(bytes, what);
  }
  StatusOr<PinnedBuffer> AllocatePinned(int64_t bytes, std::string_view what) override {
    return cpu_->AllocatePinned(bytes, what);
  }
  void CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                    Stream stream = Stream::kCompute) override;
  void CopyToHost(void* host_dst, const void* device_src, int64_t bytes,
                  Stream stream = Stream::kCompute) override;
  void CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                    Stream stream = Stream::kCompute) override;
  StatusOr<Event> CreateEvent() override;
  void RecordEvent(Event& event, Stream stream) override;
  void StreamWaitEvent(Stream stream, const Event& event) override;
  Status WaitEvent(const Event& event) override;
  Status Synchronize() override;
  bool host_reads_device_memory() const override { return false; }

  // Tasks enqueued on `stream` that have not run.
  int64_t pending(Stream stream) const;

  // --- The CPU kernels, after the kCompute queue ---------------------------
  void DenseForward(const float* x, const float* w, const float* b, float* y, int64_t batch,
                    int64_t in, int64_t out) override {
    FlushCompute();
    cpu_->DenseForward(x, w, b, y, batch, in, out);
  }
  void DenseBackward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int64_t batch, int64_t in, int64_t out) override {
    FlushCompute();
    cpu_->DenseBackward(x, w, dy, dx, dw, db, batch, in, out);
  }
  void BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) override {
    FlushCompute();
    cpu_->BiasAdd(y, b, rows, cols);
  }
  void BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) override {
    FlushCompute();
    cpu_->BiasGrad(dy, db, rows, cols);
  }
  void Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w, const float* b,
                     float* y) override {
    FlushCompute();
    cpu_->Conv2DForward(g, x, w, b, y);
  }
  void Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override {
    FlushCompute();
    cpu_->Conv2DBackward(g, x, w, dy, dx, dw, db);
  }
  void MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) override {
    FlushCompute();
    cpu_->MaxPool2DForward(g, x, y);
  }
  void MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy,
                         float* dx) override {
    FlushCompute();
    cpu_->MaxPool2DBackward(g, x, dy, dx);
  }
  void AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) override {
    FlushCompute();
    cpu_->AvgPool2DForward(g, x, y);
  }
  void AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) override {
    FlushCompute();
    cpu_->AvgPool2DBackward(g, dy, dx);
  }
  void BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean,
                        float* variance) override {
    FlushCompute();
    cpu_->BatchNormMoments(x, rows, channels, mean, variance);
  }
  void BatchNormForward(const float* x, const float* mean, const float* variance,
                        const float* gamma, const float* beta, float epsilon, float* y,
                        int64_t rows, int64_t channels) override {
    FlushCompute();
    cpu_->BatchNormForward(x, mean, variance, gamma, beta, epsilon, y, rows, channels);
  }
  void BatchNormGradSums(const float* x, const float* dy, const float* mean, const float* variance,
                         float epsilon, float* dgamma, float* dbeta, int64_t rows,
                         int64_t channels) override {
    FlushCompute();
    cpu_->BatchNormGradSums(x, dy, mean, variance, epsilon, dgamma, dbeta, rows, channels);
  }
  void BatchNormInputGrad(const float* x, const float* dy, const float* mean, const float* variance,
                          const float* gamma, const float* dgamma, const float* dbeta,
                          float epsilon, double count, float* dx, int64_t rows,
                          int64_t channels) override {
    FlushCompute();
    cpu_->BatchNormInputGrad(x, dy, mean, variance, gamma, dgamma, dbeta, epsilon, count, dx, rows,
                             channels);
  }
  void Add(const float* a, const float* b, float* y, int64_t n) override {
    FlushCompute();
    cpu_->Add(a, b, y, n);
  }
  void CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst,
                       int64_t dst_cols, int64_t col_offset) override {
    FlushCompute();
    cpu_->CopyColumnsInto(src, rows, src_cols, dst, dst_cols, col_offset);
  }
  void CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols, int64_t col_offset,
                       float* dst, int64_t dst_cols) override {
    FlushCompute();
    cpu_->CopyColumnsFrom(src, rows, src_cols, col_offset, dst, dst_cols);
  }
  void ActivationForward(Activation act, const float* x, float* y, int64_t rows,
                         int64_t cols) override {
    FlushCompute();
    cpu_->ActivationForward(act, x, y, rows, cols);
  }
  void ActivationBackward(Activation act, const float* y, const float* dy, float* dx, int64_t rows,
                          int64_t cols) override {
    FlushCompute();
    cpu_->ActivationBackward(act, y, dy, dx, rows, cols);
  }
  void DropoutForward(const DropoutKey& key, float rate, const float* x, float* y, uint8_t* mask,
                      int64_t n) override {
    FlushCompute();
    cpu_->DropoutForward(key, rate, x, y, mask, n);
  }
  void DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx,
                       int64_t n) override {
    FlushCompute();
    cpu_->DropoutBackward(rate, mask, dy, dx, n);
  }
  void SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels, float* losses,
                                        int64_t batch, int64_t classes) override {
    FlushCompute();
    cpu_->SparseSoftmaxCrossEntropyForward(logits, labels, losses, batch, classes);
  }
  void SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels,
                                         float grad_scale, float* dlogits, int64_t batch,
                                         int64_t classes) override {
    FlushCompute();
    cpu_->SparseSoftmaxCrossEntropyBackward(logits, labels, grad_scale, dlogits, batch, classes);
  }
  void SoftmaxCrossEntropyForward(const float* logits, const float* labels, float* losses,
                                  int64_t batch, int64_t classes) override {
    FlushCompute();
    cpu_->SoftmaxCrossEntropyForward(logits, labels, losses, batch, classes);
  }
  void SoftmaxCrossEntropyBackward(const float* logits, const float* labels, float grad_scale,
                                   float* dlogits, int64_t batch, int64_t classes) override {
    FlushCompute();
    cpu_->SoftmaxCrossEntropyBackward(logits, labels, grad_scale, dlogits, batch, classes);
  }
  void MeanSquaredErrorForward(const float* pred, const float* target, float* losses, int64_t batch,
                               int64_t dim) override {
    FlushCompute();
    cpu_->MeanSquaredErrorForward(pred, target, losses, batch, dim);
  }
  void MeanSquaredErrorBackward(const float* pred, const float* target, float grad_scale,
                                float* dpred, int64_t batch, int64_t dim) override {
    FlushCompute();
    cpu_->MeanSquaredErrorBackward(pred, target, grad_scale, dpred, batch, dim);
  }
  void BinaryCrossEntropyForward(const float* output, const float* target, bool from_logits,
                                 float* losses, int64_t batch, int64_t dim) override {
    FlushCompute();
    cpu_->BinaryCrossEntropyForward(output, target, from_logits, losses, batch, dim);
  }
  void BinaryCrossEntropyBackward(const float* output, const float* target, bool from_logits,
                                  float grad_scale, float* doutput, int64_t batch,
                                  int64_t dim) override {
    FlushCompute();
    cpu_->BinaryCrossEntropyBackward(output, target, from_logits, grad_scale, doutput, batch, dim);
  }
  void ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) override {
    FlushCompute();
    cpu_->ScaleRows(x, row_scale, rows, cols);
  }
  int64_t SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                              int64_t classes) override {
    FlushCompute();
    return cpu_->SparseAccuracyCount(logits, labels, batch, classes);
  }
  void AdamUpdate(const AdamParams& params, float* weights, const float* grads, float* m, float* v,
                  int64_t n) override {
    FlushCompute();
    cpu_->AdamUpdate(params, weights, grads, m, v, n);
  }
  void SgdUpdate(const SgdParams& params, float* weights, const float* grads, float* velocity,
                 int64_t n) override {
    FlushCompute();
    cpu_->SgdUpdate(params, weights, grads, velocity, n);
  }
  void RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                     float* mean_square, float* momentum_slot, int64_t n) override {
    FlushCompute();
    cpu_->RmspropUpdate(params, weights, grads, mean_square, momentum_slot, n);
  }
  void GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in,
                     int64_t fan_out) override {
    FlushCompute();
    cpu_->GlorotUniform(seed, stream, w, fan_in, fan_out);
  }
  void GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n, int64_t fan_in,
                      int64_t fan_out) override {
    FlushCompute();
    cpu_->GlorotUniformN(seed, stream, w, n, fan_in, fan_out);
  }
  void Fill(float* x, float value, int64_t n) override {
    FlushCompute();
    cpu_->Fill(x, value, n);
  }

 private:
  struct Queue {
    std::deque<std::function<void()>> tasks;
    int64_t enqueued = 0;  // tasks ever enqueued
    int64_t executed = 0;  // tasks run
  };
  struct EventPoint {
    int stream = -1;  // -1: never recorded
    int64_t point = 0;
  };

  void Enqueue(Stream stream, std::function<void()> task);
  // Runs `stream`'s tasks until `point` tasks have run.
  void RunUntil(int stream, int64_t point);
  void FlushCompute() {
    RunUntil(static_cast<int>(Stream::kCompute), queue(Stream::kCompute).enqueued);
  }
  Queue& queue(Stream stream) { return queues_[static_cast<int>(stream)]; }
  // The event's recorded point, or null (error kept) when it has none.
  const EventPoint* Recorded(const char* op, const Event& event);
  void Fail(const std::string& message);

  void ReleaseMemory(kernels::MemoryKind, void*, int64_t) noexcept override {}
  void ReleaseEvent(void* state) noexcept override { delete static_cast<EventPoint*>(state); }

  std::unique_ptr<kernels::KernelBackend> cpu_;
  Queue queues_[kernels::kNumStreams];
  int depth_ = 0;  // nested RunUntil calls (a deeper chain is a wait cycle)
  Status status_;
};

}  // namespace shardtrain::comm::testing
