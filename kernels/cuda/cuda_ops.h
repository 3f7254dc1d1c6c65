// The CUDA twins of kernels/cpu/cpu_ops.h: same names, same arguments (device
// pointers), same formulas and summation order where the CPU fixes one, each
// enqueued on `stream` without synchronizing. Launchers return the launch's
// cudaError_t; the cuBLAS-backed Dense ops return a cublasStatus_t through
// CudaBackend (cuda_backend.h), which turns both into Status at the call site.
// Only kernels/cuda includes this.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/backend.h"

namespace shardtrain::kernels::cuda {

// Threads per block of every elementwise launch, and the grid for n elements.
inline constexpr int kThreadsPerBlock = 256;
inline unsigned GridFor(int64_t n) {
  const int64_t blocks = (n + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<unsigned>(blocks < 65535 * 64 ? (blocks > 0 ? blocks : 1) : 65535 * 64);
}

// Loops `i` over [0, n) across the whole grid (inside a __global__ function).
#define SHARDTRAIN_GRID_STRIDE(i, n)                                                        \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// --- dense.cu (bias parts; the GEMMs are cuBLAS calls in cuda_backend.cu) ---
// y (rows, cols) = b broadcast over rows.
cudaError_t BroadcastRows(cudaStream_t stream, const float* b, float* y, int64_t rows, int64_t cols);
cudaError_t BiasAdd(cudaStream_t stream, float* y, const float* b, int64_t rows, int64_t cols);
// db (cols) = Σ_rows dy, each column summed in row order (as the CPU).
cudaError_t BiasGrad(cudaStream_t stream, const float* dy, float* db, int64_t rows, int64_t cols);

// --- conv.cu (the Conv2D GEMMs are cuBLAS calls in cuda_backend_cnn.cu) ---
// cols (g.batch * out_h * out_w, window_h * window_w * in_c) = the window of
// every output pixel of the g.batch examples at x, taps ordered (ky, kx, c),
// zero where a tap is padding.
cudaError_t Im2col(cudaStream_t stream, const Conv2DGeometry& g, const float* x, float* cols);
// dx (g.batch, in_h, in_w, in_c) = Σ of the dcols entries each input was
// copied to by Im2col (gather form, ascending output pixel order).
cudaError_t Col2im(cudaStream_t stream, const Conv2DGeometry& g, const float* dcols, float* dx);

// --- pooling.cu (the KernelBackend ops of the same names; dx overwritten) ---
cudaError_t MaxPool2DForward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                             float* y);
cudaError_t MaxPool2DBackward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                              const float* dy, float* dx);
cudaError_t AvgPool2DForward(cudaStream_t stream, const Conv2DGeometry& g, const float* x,
                             float* y);
cudaError_t AvgPool2DBackward(cudaStream_t stream, const Conv2DGeometry& g, const float* dy,
                              float* dx);

// --- batch_norm.cu (x viewed as (rows, channels); reductions in double, one
// block per channel in a fixed order) ---
cudaError_t BatchNormMoments(cudaStream_t stream, const float* x, int64_t rows, int64_t channels,
                             float* mean, float* variance);
cudaError_t BatchNormForward(cudaStream_t stream, const float* x, const float* mean,
                             const float* variance, const float* gamma, const float* beta,
                             float epsilon, float* y, int64_t rows, int64_t channels);
cudaError_t BatchNormGradSums(cudaStream_t stream, const float* x, const float* dy,
                              const float* mean, const float* variance, float epsilon,
                              float* dgamma, float* dbeta, int64_t rows, int64_t channels);
cudaError_t BatchNormInputGrad(cudaStream_t stream, const float* x, const float* dy,
                               const float* mean, const float* variance, const float* gamma,
                               const float* dgamma, const float* dbeta, float epsilon,
                               double count, float* dx, int64_t rows, int64_t channels);

// --- layout.cu ---
// y = a + b over n floats; y may alias a or b.
cudaError_t Add(cudaStream_t stream, const float* a, const float* b, float* y, int64_t n);
// dst (rows, dst_cols) columns [col_offset, col_offset + src_cols) = src (rows, src_cols).
cudaError_t CopyColumnsInto(cudaStream_t stream, const float* src, int64_t rows, int64_t src_cols,
                            float* dst, int64_t dst_cols, int64_t col_offset);
// dst (rows, dst_cols) = src (rows, src_cols) columns [col_offset, col_offset + dst_cols).
cudaError_t CopyColumnsFrom(cudaStream_t stream, const float* src, int64_t rows, int64_t src_cols,
                            int64_t col_offset, float* dst, int64_t dst_cols);

// --- activations.cu ---
cudaError_t ActivationForward(cudaStream_t stream, Activation act, const float* x, float* y,
                              int64_t rows, int64_t cols);
cudaError_t ActivationBackward(cudaStream_t stream, Activation act, const float* y,
                               const float* dy, float* dx, int64_t rows, int64_t cols);

// --- dropout.cu ---
cudaError_t DropoutForward(cudaStream_t stream, const DropoutKey& key, float rate, const float* x,
                           float* y, uint8_t* mask, int64_t n);
cudaError_t DropoutBackward(cudaStream_t stream, float rate, const uint8_t* mask, const float* dy,
                            float* dx, int64_t n);

// --- losses.cu ---
cudaError_t SparseSoftmaxCrossEntropyForward(cudaStream_t stream, const float* logits,
                                             const int32_t* labels, float* losses, int64_t batch,
                                             int64_t classes);
cudaError_t SparseSoftmaxCrossEntropyBackward(cudaStream_t stream, const float* logits,
                                              const int32_t* labels, float grad_scale,
                                              float* dlogits, int64_t batch, int64_t classes);
cudaError_t SoftmaxCrossEntropyForward(cudaStream_t stream, const float* logits,
                                       const float* labels, float* losses, int64_t batch,
                                       int64_t classes);
cudaError_t SoftmaxCrossEntropyBackward(cudaStream_t stream, const float* logits,
                                        const float* labels, float grad_scale, float* dlogits,
                                        int64_t batch, int64_t classes);
cudaError_t MeanSquaredErrorForward(cudaStream_t stream, const float* pred, const float* target,
                                    float* losses, int64_t batch, int64_t dim);
cudaError_t MeanSquaredErrorBackward(cudaStream_t stream, const float* pred, const float* target,
                                     float grad_scale, float* dpred, int64_t batch, int64_t dim);
cudaError_t BinaryCrossEntropyForward(cudaStream_t stream, const float* output,
                                      const float* target, bool from_logits, float* losses,
                                      int64_t batch, int64_t dim);
cudaError_t BinaryCrossEntropyBackward(cudaStream_t stream, const float* output,
                                       const float* target, bool from_logits, float grad_scale,
                                       float* doutput, int64_t batch, int64_t dim);
cudaError_t ScaleRows(cudaStream_t stream, float* x, const float* row_scale, int64_t rows,
                      int64_t cols);
// *correct (device) += rows whose first maximum equals the label.
cudaError_t SparseAccuracyCount(cudaStream_t stream, const float* logits, const int32_t* labels,
                                int64_t batch, int64_t classes, unsigned long long* correct);
// The training step's fused head: losses, dlogits and the correct count in one
// pass over the logits (one thread per row).
cudaError_t SparseSoftmaxCrossEntropyWithAccuracy(cudaStream_t stream, const float* logits,
                                                  const int32_t* labels, float grad_scale,
                                                  float* losses, float* dlogits, int64_t batch,
                                                  int64_t classes, unsigned long long* correct);

// --- optimizers.cu (alpha etc. computed on the host exactly as the CPU does) ---
cudaError_t AdamUpdate(cudaStream_t stream, const AdamParams& params, float* weights,
                       const float* grads, float* m, float* v, int64_t n);
cudaError_t SgdUpdate(cudaStream_t stream, const SgdParams& params, float* weights,
                      const float* grads, float* velocity, int64_t n);
cudaError_t RmspropUpdate(cudaStream_t stream, const RmspropParams& params, float* weights,
                          const float* grads, float* mean_square, float* momentum_slot, int64_t n);

// --- initializers.cu ---
cudaError_t GlorotUniform(cudaStream_t stream, uint64_t seed, uint32_t stream_id, float* w,
                          int64_t fan_in, int64_t fan_out);
// The same limit over n elements (a conv kernel; KernelBackend::GlorotUniformN).
cudaError_t GlorotUniformN(cudaStream_t stream, uint64_t seed, uint32_t stream_id, float* w,
                           int64_t n, int64_t fan_in, int64_t fan_out);
cudaError_t Fill(cudaStream_t stream, float* x, float value, int64_t n);

}  // namespace shardtrain::kernels::cuda
