// CpuBackend: the KernelBackend on the host (OpenBLAS sgemm + OpenMP loops).
// A thin shell: every op forwards to the free function of the same name in
// kernels/cpu/cpu_ops.h. Memory (cpu_memory.cc): device and pinned memory are
// both 64-byte aligned host memory, copies are memcpy done at once, events are
// complete as soon as they exist. Stateless, so unlike the interface requires
// it is in fact safe to share between threads.
#pragma once

#include <string_view>

#include "kernels/backend.h"

namespace shardtrain::kernels::cpu {

class CpuBackend final : public KernelBackend, private MemoryReleaser {
 public:
  std::string_view name() const override { return "cpu"; }
  Device device() const override { return Device::kCpu; }

  StatusOr<DeviceBuffer> AllocateDevice(int64_t bytes, std::string_view what) override;
  StatusOr<PinnedBuffer> AllocatePinned(int64_t bytes, std::string_view what) override;
  void CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                    Stream stream = Stream::kCompute) override;
  void CopyToHost(void* host_dst, const void* device_src, int64_t bytes,
                  Stream stream = Stream::kCompute) override;
  void CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                    Stream stream = Stream::kCompute) override;
  StatusOr<Event> CreateEvent() override;
  void RecordEvent(Event& event, Stream stream) override {}
  void StreamWaitEvent(Stream stream, const Event& event) override {}
  Status WaitEvent(const Event& event) override { return OkStatus(); }
  Status Synchronize() override { return OkStatus(); }
  bool host_reads_device_memory() const override { return true; }

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
  void ReleaseMemory(MemoryKind kind, void* data, int64_t bytes) noexcept override;
  void ReleaseEvent(void* state) noexcept override {}
};

}  // namespace shardtrain::kernels::cpu
