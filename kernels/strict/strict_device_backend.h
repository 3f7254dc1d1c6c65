// The strict emulated device: a KernelBackend that runs the CPU backend's
// kernels (results bitwise equal to CreateCpuBackend()'s) but enforces the
// rules a real device imposes, so code meant for CUDA is tested on any host.
//
// - AllocateDevice memory cannot be touched by the host: its pages are
//   PROT_NONE except while a backend op or copy runs (a host read or write is
//   a SIGSEGV at the offending line), and then only the allocations holding
//   that op's pointer arguments are opened. Guard pages surround each
//   allocation, whose data ends within 15 bytes of the back one (16-byte
//   alignment): an op running past the end of its buffer, or before the start
//   of its pages, faults; one writing into the few bytes of slack around its
//   buffer is recorded as FailedPrecondition "<Op> wrote outside device
//   allocation <what> (<bytes> bytes)" (device_arena.h).
// - Every op checks that each non-null pointer argument lies inside a device
//   allocation and that only the arguments backend.h lets be null are, and
//   each copy that its device side does and its host side does not (and that
//   the device side's bytes fit). A violation (what would crash or corrupt on
//   CUDA) is recorded as FailedPrecondition "<Op>: argument <name> is not
//   device memory" or "<Op>: argument <name> is null" (or "... is device
//   memory" for a host side), returned by CheckErrors()/Synchronize()/
//   WaitEvent(); the op then does nothing. Only the first error is kept until
//   it is read.
// - Streams execute in program order (copies happen at once). Events are
//   bookkeeping: waiting on (StreamWaitEvent, WaitEvent) an event never
//   recorded, or using an empty event or another backend's, is recorded as
//   FailedPrecondition: misuses CUDA would silently accept.
// - Pinned memory is ordinary host memory (the CPU backend's).
// name() "strict", device() Device::kCpu, host_reads_device_memory() false.
// The CPU kernels' own scratch (Conv2D's im2col) is host memory, as on the CPU
// backend. Not thread-safe: one backend per thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/strict/device_arena.h"

namespace shardtrain::kernels {

std::unique_ptr<KernelBackend> CreateStrictDeviceBackend();

namespace strict {

class StrictDeviceBackend final : public KernelBackend, private MemoryReleaser {
 public:
  std::string_view name() const override { return "strict"; }
  Device device() const override { return Device::kCpu; }
  Status CheckErrors() override;

  StatusOr<DeviceBuffer> AllocateDevice(int64_t bytes, std::string_view what) override;
  StatusOr<PinnedBuffer> AllocatePinned(int64_t bytes, std::string_view what) override;
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
  Status Synchronize() override { return CheckErrors(); }
  bool host_reads_device_memory() const override { return false; }

  void DenseForward(const float* x, const float* w, const float* b, float* y, int64_t batch,
                    int64_t in, int64_t out) override;
  void DenseBackward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int64_t batch, int64_t in, int64_t out) override;
  void BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) override;
  void BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) override;

  void Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w, const float* b,
                     float* y) override;
  void Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override;
  void MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) override;
  void MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy,
                         float* dx) override;
  void AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) override;
  void AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) override;

  void BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean,
                        float* variance) override;
  void BatchNormForward(const float* x, const float* mean, const float* variance,
                        const float* gamma, const float* beta, float epsilon, float* y,
                        int64_t rows, int64_t channels) override;
  void BatchNormGradSums(const float* x, const float* dy, const float* mean, const float* variance,
                         float epsilon, float* dgamma, float* dbeta, int64_t rows,
                         int64_t channels) override;
  void BatchNormInputGrad(const float* x, const float* dy, const float* mean, const float* variance,
                          const float* gamma, const float* dgamma, const float* dbeta,
                          float epsilon, double count, float* dx, int64_t rows,
                          int64_t channels) override;

  void Add(const float* a, const float* b, float* y, int64_t n) override;
  void CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst,
                       int64_t dst_cols, int64_t col_offset) override;
  void CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols, int64_t col_offset,
                       float* dst, int64_t dst_cols) override;

  void ActivationForward(Activation act, const float* x, float* y, int64_t rows,
                         int64_t cols) override;
  void ActivationBackward(Activation act, const float* y, const float* dy, float* dx, int64_t rows,
                          int64_t cols) override;

  void DropoutForward(const DropoutKey& key, float rate, const float* x, float* y, uint8_t* mask,
                      int64_t n) override;
  void DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx,
                       int64_t n) override;

  void SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels, float* losses,
                                        int64_t batch, int64_t classes) override;
  void SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels,
                                         float grad_scale, float* dlogits, int64_t batch,
                                         int64_t classes) override;
  void SoftmaxCrossEntropyForward(const float* logits, const float* labels, float* losses,
                                  int64_t batch, int64_t classes) override;
  void SoftmaxCrossEntropyBackward(const float* logits, const float* labels, float grad_scale,
                                   float* dlogits, int64_t batch, int64_t classes) override;
  void MeanSquaredErrorForward(const float* pred, const float* target, float* losses, int64_t batch,
                               int64_t dim) override;
  void MeanSquaredErrorBackward(const float* pred, const float* target, float grad_scale,
                                float* dpred, int64_t batch, int64_t dim) override;
  void BinaryCrossEntropyForward(const float* output, const float* target, bool from_logits,
                                 float* losses, int64_t batch, int64_t dim) override;
  void BinaryCrossEntropyBackward(const float* output, const float* target, bool from_logits,
                                  float grad_scale, float* doutput, int64_t batch,
                                  int64_t dim) override;
  void ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) override;
  int64_t SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                              int64_t classes) override;

  void AdamUpdate(const AdamParams& params, float* weights, const float* grads, float* m, float* v,
                  int64_t n) override;
  void SgdUpdate(const SgdParams& params, float* weights, const float* grads, float* velocity,
                 int64_t n) override;
  void RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                     float* mean_square, float* momentum_slot, int64_t n) override;

  void GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in,
                     int64_t fan_out) override;
  void GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n, int64_t fan_in,
                      int64_t fan_out) override;
  void Fill(float* x, float value, int64_t n) override;

 private:
  // One pointer argument of an op, named as in backend.h; `optional` when
  // backend.h lets it be null (absent).
  struct Arg {
    const char* name;
    const void* pointer;
    bool optional = false;
  };
  static constexpr bool kMayBeNull = true;

  // Runs body() with the allocations holding `args` open; records the first
  // argument that is not device memory instead (body does not run).
  template <typename Body>
  void Run(const char* op, std::initializer_list<Arg> args, Body&& body) {
    std::vector<const DeviceAllocation*> allocations;
    if (!FindAllocations(op, args, &allocations)) return;
    OpenAllocations open(std::move(allocations));
    if (!Record(open.status())) return;
    body();
    Record(open.Close(op));
  }
  // The allocations of the non-null `args`; false (error recorded) when one
  // is not device memory or a required one is null.
  bool FindAllocations(const char* op, std::initializer_list<Arg> args,
                       std::vector<const DeviceAllocation*>* allocations);
  // Checks one side of a copy: `bytes` at `pointer` inside one device
  // allocation (device == true) or outside every one (device == false).
  bool CheckCopySide(const char* op, const char* name, const void* pointer, int64_t bytes,
                     bool device, std::vector<const DeviceAllocation*>* allocations);
  void Copy(const char* op, void* dst, bool dst_device, const void* src, bool src_device,
            int64_t bytes);
  // This backend's event state behind `event`, or null (error recorded).
  struct EventState;
  EventState* CheckEvent(const char* op, const Event& event);
  // Keeps the first failure; true when `status` is OK.
  bool Record(const Status& status);

  void ReleaseMemory(MemoryKind kind, void* data, int64_t bytes) noexcept override;
  void ReleaseEvent(void* state) noexcept override;

  cpu::CpuBackend cpu_;  // the kernels, and the pinned memory
  DeviceArena arena_;
  Status status_;
};

}  // namespace strict
}  // namespace shardtrain::kernels
