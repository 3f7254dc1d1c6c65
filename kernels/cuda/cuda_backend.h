// CudaBackend: the KernelBackend on one CUDA device. Every op takes DEVICE
// pointers and is enqueued on the backend's own stream without a host
// synchronization, except SparseAccuracyCount, which returns a host count and
// therefore waits (the trainer's metrics read-back; the fused
// SparseSoftmaxCrossEntropyWithAccuracy keeps the count on the device).
//
// Dense runs on cuBLAS (row-major operands passed as their column-major
// transposes). TF32 tensor-core math only when created with tf32 = true;
// otherwise full fp32, to stay within 1e-5 of the CPU backend. Conv2D is
// im2col + cuBLAS sgemm + col2im (gather form) over chunks of the batch whose
// im2col matrix fits kConvWorkspaceBytes, in a workspace the backend owns
// (allocated on first use, grown, freed with the backend; cuda_backend_cnn.cu).
// The other ops mirror kernels/cpu formula for formula (kernels/cuda/*.cu),
// with every reduction in a fixed order (deterministic: no float atomics).
//
// Memory (cuda_memory.cu): cudaMalloc'd device memory, cudaMallocHost'd pinned
// memory, cudaMemcpyAsync on the stream named, events without timing. Stream
// kCompute is the backend's own stream (every op runs there); kCopy and
// kCommunication are two more non-blocking streams on the same device.
//
// Errors: ops return void (the KernelBackend contract), so the first failed
// launch, CUDA call or cuBLAS call is kept with its call site and returned by
// CheckErrors(); later ops become no-ops until it is read. Asynchronous device
// faults surface at the next synchronizing call (SparseAccuracyCount,
// Synchronize). Not thread-safe: one backend per worker thread.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <functional>
#include <memory>

#include "common/status.h"
#include "kernels/backend.h"
#include "kernels/cuda/workspace.h"

namespace shardtrain::kernels::cuda {

class CudaBackend final : public KernelBackend, private MemoryReleaser {
 public:
  // Largest im2col chunk Conv2D allocates unless one example alone needs more.
  static constexpr size_t kConvWorkspaceBytes = size_t{128} << 20;

  // FailedPrecondition when no CUDA device is visible or `device` is out of range.
  static StatusOr<std::unique_ptr<CudaBackend>> Create(int device, bool tf32);
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  Device device() const override { return Device::kCuda; }
  // The compute stream, every op's (native_stream(Stream::kCompute)).
  cudaStream_t stream() const { return stream_; }
  cudaStream_t native_stream(Stream stream) const { return streams_[static_cast<int>(stream)]; }

  // The first error since the last call (OK when none), with its call site.
  Status CheckErrors() override;
  // Seconds per call of body(i), i = 0 .. iterations - 1, after 3 warm-up
  // calls, timed with CUDA events on this backend's stream.
  StatusOr<double> SecondsPerCall(int iterations, const std::function<void(int)>& body);

  StatusOr<kernels::DeviceBuffer> AllocateDevice(int64_t bytes, std::string_view what) override;
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
  // Waits for every stream, then CheckErrors().
  Status Synchronize() override;
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
  void BatchNormGradSums(const float* x, const float* dy, const float* mean,
                         const float* variance, float epsilon, float* dgamma, float* dbeta,
                         int64_t rows, int64_t channels) override;
  void BatchNormInputGrad(const float* x, const float* dy, const float* mean,
                          const float* variance, const float* gamma, const float* dgamma,
                          const float* dbeta, float epsilon, double count, float* dx,
                          int64_t rows, int64_t channels) override;

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
  void MeanSquaredErrorForward(const float* pred, const float* target, float* losses,
                               int64_t batch, int64_t dim) override;
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
  // Losses, dlogits and `*correct` (device counter, incremented) in one kernel.
  void SparseSoftmaxCrossEntropyWithAccuracy(const float* logits, const int32_t* labels,
                                             float grad_scale, float* losses, float* dlogits,
                                             int64_t batch, int64_t classes,
                                             unsigned long long* correct);

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
  CudaBackend(int device, const cudaStream_t (&streams)[kNumStreams], cublasHandle_t blas,
              unsigned long long* device_count, unsigned long long* host_count);
  void ReleaseMemory(MemoryKind kind, void* data, int64_t bytes) noexcept override;
  void ReleaseEvent(void* state) noexcept override;
  // cudaMemcpyAsync of `bytes` bytes on `stream`, kept as the first error if it fails.
  void EnqueueCopy(void* dst, const void* src, int64_t bytes, cudaMemcpyKind kind,
                   Stream stream);
  // True when `event` may be used now: not empty (else FailedPrecondition naming
  // `op` is kept) and no error pending.
  bool CheckEvent(const char* op, const Event& event);
  // Keep the first failure; true when this call succeeded and none is pending.
  bool Record(cudaError_t error, const char* call, const char* file, int line);
  bool Record(cublasStatus_t status, const char* call, const char* file, int line);
  // C (m×n, column-major) = op(A)·op(B) + beta·C through cublasSgemm.
  void Gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a,
            int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
            const char* file, int line);
  // Examples per Conv2D chunk, with the workspace grown to hold their im2col
  // matrix; 0 after recording an allocation failure.
  int64_t ReserveConvChunk(const Conv2DGeometry& g);

  int device_;
  cudaStream_t streams_[kNumStreams];
  cudaStream_t stream_;  // streams_[kCompute]
  cublasHandle_t blas_;
  unsigned long long* device_count_;  // SparseAccuracyCount's counter (device)
  unsigned long long* host_count_;    // its pinned read-back slot
  DeviceWorkspace conv_workspace_;    // Conv2D's im2col chunks
  Status status_;
};

}  // namespace shardtrain::kernels::cuda
