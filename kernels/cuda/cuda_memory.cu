// CudaBackend's memory section (contract in kernels/backend.h and
// cuda_backend.h): cudaMalloc/cudaMallocHost allocations, cudaMemcpyAsync on
// the stream named, and events created without timing (the cheap kind). An
// empty or foreign event and a negative copy size are recorded errors
// (kernels/device_buffer.h, Event).
#include <string>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_status.h"

namespace shardtrain::kernels::cuda {

namespace {

// The allocation failure as a Status naming `what`: ResourceExhausted for out
// of memory (the error is cleared so later launches do not report it again).
Status AllocationError(cudaError_t error, const char* call, MemoryKind kind, int64_t bytes,
                       std::string_view what) {
  cudaGetLastError();
  if (error == cudaErrorMemoryAllocation) return OutOfMemoryError(kind, bytes, what);
  return CudaErrorToStatus(error, call, __FILE__, __LINE__)
      .WithContext("allocating " + std::string(what) + " (" + std::to_string(bytes) + " bytes)");
}

// InvalidArgument for a negative copy size (the strict device's error), else OK.
Status CopySizeStatus(const char* call, int64_t bytes) {
  if (bytes >= 0) return OkStatus();
  return InvalidArgumentError(std::string(call) + ": negative size " + std::to_string(bytes));
}

cudaEvent_t NativeEvent(const Event& event) { return static_cast<cudaEvent_t>(event.state()); }

}  // namespace

bool CudaBackend::CheckEvent(const char* op, const Event& event) {
  if (event.made_by(this)) return status_.ok();
  if (status_.ok()) {
    status_ = FailedPreconditionError(
        std::string(op) +
        (event.empty() ? ": the event is empty" : ": the event belongs to another backend"));
  }
  return false;
}

StatusOr<kernels::DeviceBuffer> CudaBackend::AllocateDevice(int64_t bytes, std::string_view what) {
  RETURN_IF_ERROR(CheckAllocationSize(MemoryKind::kDevice, bytes, what));
  if (bytes == 0) return kernels::DeviceBuffer();
  void* data = nullptr;
  const cudaError_t error = cudaMalloc(&data, static_cast<size_t>(bytes));
  if (error != cudaSuccess) {
    return AllocationError(error, "cudaMalloc", MemoryKind::kDevice, bytes, what);
  }
  return kernels::DeviceBuffer(data, bytes, this);
}

StatusOr<PinnedBuffer> CudaBackend::AllocatePinned(int64_t bytes, std::string_view what) {
  RETURN_IF_ERROR(CheckAllocationSize(MemoryKind::kPinned, bytes, what));
  if (bytes == 0) return PinnedBuffer();
  void* data = nullptr;
  const cudaError_t error = cudaMallocHost(&data, static_cast<size_t>(bytes));
  if (error != cudaSuccess) {
    return AllocationError(error, "cudaMallocHost", MemoryKind::kPinned, bytes, what);
  }
  return PinnedBuffer(data, bytes, this);
}

void CudaBackend::ReleaseMemory(MemoryKind kind, void* data, int64_t /*bytes*/) noexcept {
  // cudaFree waits for the device, so work still using the memory finishes first.
  if (kind == MemoryKind::kDevice) {
    cudaFree(data);
  } else {
    cudaFreeHost(data);
  }
}

void CudaBackend::EnqueueCopy(void* dst, const void* src, int64_t bytes, cudaMemcpyKind kind,
                              Stream stream) {
  if (status_.ok() && bytes > 0) {
    SHARDTRAIN_RECORD(
        cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), kind, native_stream(stream)));
  }
}

void CudaBackend::CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                               Stream stream) {
  if (status_.ok()) status_ = CopySizeStatus("CopyToDevice", bytes);
  EnqueueCopy(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream);
}

void CudaBackend::CopyToHost(void* host_dst, const void* device_src, int64_t bytes, Stream stream) {
  if (status_.ok()) status_ = CopySizeStatus("CopyToHost", bytes);
  EnqueueCopy(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream);
}

void CudaBackend::CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                               Stream stream) {
  if (status_.ok()) status_ = CopySizeStatus("CopyOnDevice", bytes);
  EnqueueCopy(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice, stream);
}

StatusOr<Event> CudaBackend::CreateEvent() {
  cudaEvent_t event = nullptr;
  RETURN_IF_CUDA_ERROR(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return Event(event, this);
}

void CudaBackend::ReleaseEvent(void* state) noexcept {
  cudaEventDestroy(static_cast<cudaEvent_t>(state));
}

void CudaBackend::RecordEvent(Event& event, Stream stream) {
  if (CheckEvent("RecordEvent", event)) {
    SHARDTRAIN_RECORD(cudaEventRecord(NativeEvent(event), native_stream(stream)));
  }
}

void CudaBackend::StreamWaitEvent(Stream stream, const Event& event) {
  if (CheckEvent("StreamWaitEvent", event)) {
    SHARDTRAIN_RECORD(cudaStreamWaitEvent(native_stream(stream), NativeEvent(event), 0));
  }
}

Status CudaBackend::WaitEvent(const Event& event) {
  if (CheckEvent("WaitEvent", event)) SHARDTRAIN_RECORD(cudaEventSynchronize(NativeEvent(event)));
  return CheckErrors();
}

Status CudaBackend::Synchronize() {
  for (cudaStream_t stream : streams_) SHARDTRAIN_RECORD(cudaStreamSynchronize(stream));
  return CheckErrors();
}

}  // namespace shardtrain::kernels::cuda
