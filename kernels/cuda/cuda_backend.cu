// CudaBackend (contract in cuda_backend.h): stream and cuBLAS handle, error
// capture at the call site, the Dense GEMMs, and forwarding to the kernels of
// cuda_ops.h.
#include "kernels/cuda/cuda_backend.h"

#include <climits>
#include <string>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cuda_status.h"
#include "kernels/cuda/device.h"

namespace shardtrain::kernels::cuda {

StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(int device, bool tf32) {
  const int count = CudaDeviceCount();
  if (count == 0) {
    return FailedPreconditionError("no CUDA device is visible; use --device cpu");
  }
  if (device < 0 || device >= count) {
    return FailedPreconditionError("CUDA device " + std::to_string(device) + " does not exist (" +
                                   std::to_string(count) + " visible)");
  }
  RETURN_IF_CUDA_ERROR(cudaSetDevice(device));
  cudaStream_t streams[kNumStreams] = {};
  cudaError_t error = cudaSuccess;
  for (cudaStream_t& stream : streams) {
    if (error == cudaSuccess) error = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  }
  cublasHandle_t blas = nullptr;
  cublasStatus_t blas_status = CUBLAS_STATUS_NOT_INITIALIZED;
  if (error == cudaSuccess) blas_status = cublasCreate(&blas);
  if (blas_status == CUBLAS_STATUS_SUCCESS) {
    blas_status = cublasSetStream(blas, streams[static_cast<int>(Stream::kCompute)]);
  }
  if (blas_status == CUBLAS_STATUS_SUCCESS) {
    blas_status = cublasSetMathMode(blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  }
  unsigned long long* device_count = nullptr;
  unsigned long long* host_count = nullptr;
  if (blas_status == CUBLAS_STATUS_SUCCESS) {
    error = cudaMalloc(&device_count, sizeof(unsigned long long));
    if (error == cudaSuccess) error = cudaMallocHost(&host_count, sizeof(unsigned long long));
  }
  std::unique_ptr<CudaBackend> backend(
      new CudaBackend(device, streams, blas, device_count, host_count));  // owns what exists
  if (error != cudaSuccess) {
    return CudaErrorToStatus(error, "creating the CUDA backend's streams and counters", __FILE__,
                             __LINE__);
  }
  if (blas_status != CUBLAS_STATUS_SUCCESS) {
    return InternalError(std::string("cuBLAS set-up failed: ") + cublasGetStatusString(blas_status));
  }
  return backend;
}

static_assert(kNumStreams == 3, "the constructor lists every stream");

CudaBackend::CudaBackend(int device, const cudaStream_t (&streams)[kNumStreams],
                         cublasHandle_t blas, unsigned long long* device_count,
                         unsigned long long* host_count)
    : device_(device),
      streams_{streams[0], streams[1], streams[2]},
      stream_(streams[static_cast<int>(Stream::kCompute)]),
      blas_(blas),
      device_count_(device_count),
      host_count_(host_count) {}

CudaBackend::~CudaBackend() {
  // Teardown errors cannot be reported from a destructor; the device is idle.
  for (cudaStream_t stream : streams_) {
    if (stream != nullptr) cudaStreamSynchronize(stream);
  }
  if (host_count_ != nullptr) cudaFreeHost(host_count_);
  if (device_count_ != nullptr) cudaFree(device_count_);
  if (blas_ != nullptr) cublasDestroy(blas_);
  for (cudaStream_t stream : streams_) {
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
}

bool CudaBackend::Record(cudaError_t error, const char* call, const char* file, int line) {
  if (error != cudaSuccess && status_.ok()) {
    status_ = CudaErrorToStatus(error, call, file, line);
  }
  return status_.ok();
}

bool CudaBackend::Record(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS && status_.ok()) {
    status_ = InternalError(std::string(call) + " failed at " + file + ":" + std::to_string(line) +
                            ": " + cublasGetStatusString(status));
  }
  return status_.ok();
}

Status CudaBackend::CheckErrors() {
  Status status = status_;
  status_ = OkStatus();
  return status;
}

StatusOr<double> CudaBackend::SecondsPerCall(int iterations,
                                             const std::function<void(int)>& body) {
  for (int i = 0; i < 3; ++i) body(i);  // warm-up: cuBLAS heuristics, caches
  RETURN_IF_ERROR(Synchronize());
  cudaEvent_t start = nullptr, stop = nullptr;
  RETURN_IF_CUDA_ERROR(cudaEventCreate(&start));
  Status status = CudaErrorToStatus(cudaEventCreate(&stop), "cudaEventCreate", __FILE__, __LINE__);
  float ms = 0;
  if (status.ok()) {
    SHARDTRAIN_RECORD(cudaEventRecord(start, stream_));
    for (int i = 0; i < iterations; ++i) body(i);
    SHARDTRAIN_RECORD(cudaEventRecord(stop, stream_));
    status = Synchronize();
  }
  if (status.ok()) {
    status = CudaErrorToStatus(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime",
                               __FILE__, __LINE__);
  }
  cudaEventDestroy(start);
  if (stop != nullptr) cudaEventDestroy(stop);
  RETURN_IF_ERROR(status);
  return ms / 1e3 / iterations;
}

void CudaBackend::Gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                       const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                       float* c, int64_t ldc, const char* file, int line) {
  for (int64_t dim : {m, n, k, lda, ldb, ldc}) {
    if (dim > INT_MAX) {
      if (status_.ok()) {
        status_ = InvalidArgumentError("a GEMM dimension of " + std::to_string(dim) +
                                       " exceeds cuBLAS's int range (" + file + ":" +
                                       std::to_string(line) + ")");
      }
      return;
    }
  }
  const float alpha = 1.0f;
  Record(cublasSgemm(blas_, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                     transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(m),
                     static_cast<int>(n), static_cast<int>(k), &alpha, a, static_cast<int>(lda), b,
                     static_cast<int>(ldb), &beta, c, static_cast<int>(ldc)),
         "cublasSgemm", file, line);
}

// Row-major X (r×c) is column-major Xᵀ with leading dimension c, so each
// row-major product below is computed as its transpose.
void CudaBackend::DenseForward(const float* x, const float* w, const float* b, float* y,
                               int64_t batch, int64_t in, int64_t out) {
  if (!status_.ok() || batch == 0 || out == 0) return;
  if (b != nullptr) SHARDTRAIN_RECORD(BroadcastRows(stream_, b, y, batch, out));
  if (in == 0) {
    if (b == nullptr) SHARDTRAIN_RECORD(cuda::Fill(stream_, y, 0.0f, batch * out));
    return;
  }
  // yᵀ (out×batch) = wᵀ (out×in) · xᵀ (in×batch)
  Gemm(false, false, out, batch, in, w, out, x, in, b != nullptr ? 1.0f : 0.0f, y, out, __FILE__,
       __LINE__);
}

void CudaBackend::DenseBackward(const float* x, const float* w, const float* dy, float* dx,
                                float* dw, float* db, int64_t batch, int64_t in, int64_t out) {
  if (!status_.ok()) return;
  if (batch == 0 || out == 0) {
    SHARDTRAIN_RECORD(cuda::Fill(stream_, dw, 0.0f, in * out));
    if (db != nullptr) SHARDTRAIN_RECORD(cuda::Fill(stream_, db, 0.0f, out));
    if (dx != nullptr) SHARDTRAIN_RECORD(cuda::Fill(stream_, dx, 0.0f, batch * in));
    return;
  }
  if (in > 0) {
    // dwᵀ (out×in) = dyᵀ (out×batch) · x (batch×in)
    Gemm(false, true, out, in, batch, dy, out, x, in, 0.0f, dw, out, __FILE__, __LINE__);
    // dxᵀ (in×batch) = w (in×out) · dyᵀ (out×batch)
    if (dx != nullptr) Gemm(true, false, in, batch, out, w, out, dy, out, 0.0f, dx, in, __FILE__, __LINE__);
  }
  if (db != nullptr) SHARDTRAIN_RECORD(cuda::BiasGrad(stream_, dy, db, batch, out));
}

void CudaBackend::BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::BiasAdd(stream_, y, b, rows, cols));
}

void CudaBackend::BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::BiasGrad(stream_, dy, db, rows, cols));
}

void CudaBackend::ActivationForward(Activation act, const float* x, float* y, int64_t rows,
                                    int64_t cols) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::ActivationForward(stream_, act, x, y, rows, cols));
}

void CudaBackend::ActivationBackward(Activation act, const float* y, const float* dy, float* dx,
                                     int64_t rows, int64_t cols) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::ActivationBackward(stream_, act, y, dy, dx, rows, cols));
  }
}

void CudaBackend::DropoutForward(const DropoutKey& key, float rate, const float* x, float* y,
                                 uint8_t* mask, int64_t n) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::DropoutForward(stream_, key, rate, x, y, mask, n));
}

void CudaBackend::DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx,
                                  int64_t n) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::DropoutBackward(stream_, rate, mask, dy, dx, n));
}

void CudaBackend::SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels,
                                                   float* losses, int64_t batch,
                                                   int64_t classes) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(
        cuda::SparseSoftmaxCrossEntropyForward(stream_, logits, labels, losses, batch, classes));
  }
}

void CudaBackend::SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels,
                                                    float grad_scale, float* dlogits,
                                                    int64_t batch, int64_t classes) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::SparseSoftmaxCrossEntropyBackward(stream_, logits, labels, grad_scale,
                                                              dlogits, batch, classes));
  }
}

void CudaBackend::SoftmaxCrossEntropyForward(const float* logits, const float* labels,
                                             float* losses, int64_t batch, int64_t classes) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(
        cuda::SoftmaxCrossEntropyForward(stream_, logits, labels, losses, batch, classes));
  }
}

void CudaBackend::SoftmaxCrossEntropyBackward(const float* logits, const float* labels,
                                              float grad_scale, float* dlogits, int64_t batch,
                                              int64_t classes) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::SoftmaxCrossEntropyBackward(stream_, logits, labels, grad_scale,
                                                        dlogits, batch, classes));
  }
}

void CudaBackend::MeanSquaredErrorForward(const float* pred, const float* target, float* losses,
                                          int64_t batch, int64_t dim) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::MeanSquaredErrorForward(stream_, pred, target, losses, batch, dim));
  }
}

void CudaBackend::MeanSquaredErrorBackward(const float* pred, const float* target,
                                           float grad_scale, float* dpred, int64_t batch,
                                           int64_t dim) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(
        cuda::MeanSquaredErrorBackward(stream_, pred, target, grad_scale, dpred, batch, dim));
  }
}

void CudaBackend::BinaryCrossEntropyForward(const float* output, const float* target,
                                            bool from_logits, float* losses, int64_t batch,
                                            int64_t dim) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::BinaryCrossEntropyForward(stream_, output, target, from_logits, losses,
                                                      batch, dim));
  }
}

void CudaBackend::BinaryCrossEntropyBackward(const float* output, const float* target,
                                             bool from_logits, float grad_scale, float* doutput,
                                             int64_t batch, int64_t dim) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::BinaryCrossEntropyBackward(stream_, output, target, from_logits,
                                                       grad_scale, doutput, batch, dim));
  }
}

void CudaBackend::ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::ScaleRows(stream_, x, row_scale, rows, cols));
}

int64_t CudaBackend::SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                                         int64_t classes) {
  if (!status_.ok()) return 0;
  *host_count_ = 0;
  if (!SHARDTRAIN_RECORD(cudaMemsetAsync(device_count_, 0, sizeof(*device_count_), stream_)) ||
      !SHARDTRAIN_RECORD(
          cuda::SparseAccuracyCount(stream_, logits, labels, batch, classes, device_count_)) ||
      !SHARDTRAIN_RECORD(cudaMemcpyAsync(host_count_, device_count_, sizeof(*host_count_),
                                         cudaMemcpyDeviceToHost, stream_)) ||
      !SHARDTRAIN_RECORD(cudaStreamSynchronize(stream_))) {
    return 0;
  }
  return static_cast<int64_t>(*host_count_);
}

void CudaBackend::SparseSoftmaxCrossEntropyWithAccuracy(const float* logits,
                                                        const int32_t* labels, float grad_scale,
                                                        float* losses, float* dlogits,
                                                        int64_t batch, int64_t classes,
                                                        unsigned long long* correct) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::SparseSoftmaxCrossEntropyWithAccuracy(
        stream_, logits, labels, grad_scale, losses, dlogits, batch, classes, correct));
  }
}

void CudaBackend::AdamUpdate(const AdamParams& params, float* weights, const float* grads,
                             float* m, float* v, int64_t n) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::AdamUpdate(stream_, params, weights, grads, m, v, n));
}

void CudaBackend::SgdUpdate(const SgdParams& params, float* weights, const float* grads,
                            float* velocity, int64_t n) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::SgdUpdate(stream_, params, weights, grads, velocity, n));
  }
}

void CudaBackend::RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                                float* mean_square, float* momentum_slot, int64_t n) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(
        cuda::RmspropUpdate(stream_, params, weights, grads, mean_square, momentum_slot, n));
  }
}

void CudaBackend::GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in,
                                int64_t fan_out) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::GlorotUniform(stream_, seed, stream, w, fan_in, fan_out));
  }
}

void CudaBackend::Fill(float* x, float value, int64_t n) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::Fill(stream_, x, value, n));
}

}  // namespace shardtrain::kernels::cuda
