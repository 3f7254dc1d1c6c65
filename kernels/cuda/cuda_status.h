// Converts CUDA runtime error codes into Status at the call site.
//
//   RETURN_IF_CUDA_ERROR(cudaMalloc(&p, n));
// returns Internal/FailedPrecondition with the call text, file and line, and
// CUDA's own error string; SHARDTRAIN_RECORD (below) keeps such an error in a
// CudaBackend instead. Only code in kernels/cuda may include this.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "common/status.h"

namespace shardtrain::kernels::cuda {

inline Status CudaErrorToStatus(cudaError_t error, const char* call, const char* file, int line) {
  if (error == cudaSuccess) return OkStatus();
  std::string message = std::string(call) + " failed at " + file + ":" + std::to_string(line) +
                        ": " + cudaGetErrorName(error) + " (" + cudaGetErrorString(error) + ")";
  if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver) {
    return FailedPreconditionError(message + "; no usable CUDA device here, use --device cpu");
  }
  if (error == cudaErrorMemoryAllocation) return ResourceExhaustedError(message);
  return InternalError(message);
}

}  // namespace shardtrain::kernels::cuda

#define RETURN_IF_CUDA_ERROR(call)                                                          \
  do {                                                                                      \
    cudaError_t _shardtrain_cuda_error = (call);                                            \
    if (_shardtrain_cuda_error != cudaSuccess) {                                            \
      return ::shardtrain::kernels::cuda::CudaErrorToStatus(_shardtrain_cuda_error, #call,  \
                                                            __FILE__, __LINE__);           \
    }                                                                                       \
  } while (0)

// Inside CudaBackend members: keeps the first failure of `call` (a cudaError_t
// or cublasStatus_t) with its text and call site; true while none is pending.
#define SHARDTRAIN_RECORD(call) Record((call), #call, __FILE__, __LINE__)
