// Loss and metric kernels on the GPU, one thread per row, with the CPU's
// formulas and left-to-right sums (kernels/cpu/losses.cc): softmax cross-entropy
// from logits (sparse and dense labels), binary cross-entropy, mean squared
// error, per-example loss weights, the accuracy count, and the fused training
// head (losses + dlogits + correct count).
#include "kernels/cuda/cuda_ops.h"

namespace shardtrain::kernels::cuda {
namespace {

struct RowStats {
  float max;
  float sum_exp;
};

__device__ RowStats Stats(const float* row, int64_t cols) {
  float max = row[0];
  for (int64_t c = 1; c < cols; ++c) max = fmaxf(max, row[c]);
  float sum = 0.0f;
  for (int64_t c = 0; c < cols; ++c) sum += expf(row[c] - max);
  return {max, sum};
}

__device__ int64_t FirstArgmax(const float* row, int64_t cols) {
  int64_t best = 0;
  for (int64_t c = 1; c < cols; ++c) {
    if (row[c] > row[best]) best = c;
  }
  return best;
}

// Keras's backend.epsilon(), as kernels/cpu/losses.cc.
constexpr float kEpsilon = 1e-7f;

__device__ float BinaryCrossEntropyTerm(float o, float t, bool from_logits) {
  if (from_logits) return fmaxf(o, 0.0f) - o * t + log1pf(expf(-fabsf(o)));
  const float p = fminf(fmaxf(o, kEpsilon), 1.0f - kEpsilon);
  return -(t * logf(p) + (1.0f - t) * logf(1.0f - p));
}

__device__ float BinaryCrossEntropyGrad(float o, float t, bool from_logits) {
  if (from_logits) {
    if (o >= 0.0f) return 1.0f / (1.0f + expf(-o)) - t;
    const float e = expf(o);
    return e / (1.0f + e) - t;
  }
  if (o < kEpsilon || o > 1.0f - kEpsilon) return 0.0f;
  return (1.0f - t) / (1.0f - o) - t / o;
}

__device__ int64_t RowIndex() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }

__global__ void SparseXentForwardKernel(const float* logits, const int32_t* labels, float* losses,
                                        int64_t batch, int64_t classes) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  const float* row = logits + b * classes;
  const RowStats s = Stats(row, classes);
  losses[b] = logf(s.sum_exp) + (s.max - row[labels[b]]);
}

__global__ void SparseXentBackwardKernel(const float* logits, const int32_t* labels,
                                         float grad_scale, float* dlogits, int64_t batch,
                                         int64_t classes) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  const float* row = logits + b * classes;
  float* drow = dlogits + b * classes;
  const RowStats s = Stats(row, classes);
  const float scale = grad_scale / s.sum_exp;
  for (int64_t c = 0; c < classes; ++c) drow[c] = expf(row[c] - s.max) * scale;
  drow[labels[b]] -= grad_scale;
}

__global__ void SparseXentWithAccuracyKernel(const float* logits, const int32_t* labels,
                                             float grad_scale, float* losses, float* dlogits,
                                             int64_t batch, int64_t classes,
                                             unsigned long long* correct) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  const float* row = logits + b * classes;
  float* drow = dlogits + b * classes;
  const RowStats s = Stats(row, classes);
  losses[b] = logf(s.sum_exp) + (s.max - row[labels[b]]);
  const float scale = grad_scale / s.sum_exp;
  for (int64_t c = 0; c < classes; ++c) drow[c] = expf(row[c] - s.max) * scale;
  drow[labels[b]] -= grad_scale;
  if (FirstArgmax(row, classes) == labels[b]) atomicAdd(correct, 1ull);
}

__global__ void XentForwardKernel(const float* logits, const float* labels, float* losses,
                                  int64_t batch, int64_t classes) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  const float* row = logits + b * classes;
  const float* lrow = labels + b * classes;
  const RowStats s = Stats(row, classes);
  const float lse = s.max + logf(s.sum_exp);
  float loss = 0.0f;
  for (int64_t c = 0; c < classes; ++c) loss += lrow[c] * (lse - row[c]);
  losses[b] = loss;
}

__global__ void XentBackwardKernel(const float* logits, const float* labels, float grad_scale,
                                   float* dlogits, int64_t batch, int64_t classes) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  const float* row = logits + b * classes;
  const float* lrow = labels + b * classes;
  float* drow = dlogits + b * classes;
  const RowStats s = Stats(row, classes);
  float label_sum = 0.0f;
  for (int64_t c = 0; c < classes; ++c) label_sum += lrow[c];
  const float scale = grad_scale * label_sum / s.sum_exp;
  for (int64_t c = 0; c < classes; ++c) {
    drow[c] = expf(row[c] - s.max) * scale - lrow[c] * grad_scale;
  }
}

__global__ void MseForwardKernel(const float* pred, const float* target, float* losses,
                                 int64_t batch, int64_t dim) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  float sum = 0.0f;
  for (int64_t j = 0; j < dim; ++j) {
    const float d = pred[b * dim + j] - target[b * dim + j];
    sum += d * d;
  }
  losses[b] = dim > 0 ? sum / static_cast<float>(dim) : 0.0f;
}

__global__ void MseBackwardKernel(const float* pred, const float* target, float scale,
                                  float* dpred, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { dpred[i] = (pred[i] - target[i]) * scale; }
}

__global__ void BceForwardKernel(const float* output, const float* target, bool from_logits,
                                 float* losses, int64_t batch, int64_t dim) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  float sum = 0.0f;
  for (int64_t j = 0; j < dim; ++j) {
    sum += BinaryCrossEntropyTerm(output[b * dim + j], target[b * dim + j], from_logits);
  }
  losses[b] = dim > 0 ? sum / static_cast<float>(dim) : 0.0f;
}

__global__ void BceBackwardKernel(const float* output, const float* target, bool from_logits,
                                  float scale, float* doutput, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) {
    doutput[i] = BinaryCrossEntropyGrad(output[i], target[i], from_logits) * scale;
  }
}

__global__ void ScaleRowsKernel(float* x, const float* row_scale, int64_t cols, int64_t n) {
  SHARDTRAIN_GRID_STRIDE(i, n) { x[i] *= row_scale[i / cols]; }
}

__global__ void AccuracyKernel(const float* logits, const int32_t* labels, int64_t batch,
                               int64_t classes, unsigned long long* correct) {
  const int64_t b = RowIndex();
  if (b >= batch) return;
  if (FirstArgmax(logits + b * classes, classes) == labels[b]) atomicAdd(correct, 1ull);
}

}  // namespace

cudaError_t SparseSoftmaxCrossEntropyForward(cudaStream_t stream, const float* logits,
                                             const int32_t* labels, float* losses, int64_t batch,
                                             int64_t classes) {
  if (batch == 0) return cudaSuccess;
  if (classes <= 0) return Fill(stream, losses, 0.0f, batch);
  SparseXentForwardKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(logits, labels, losses,
                                                                           batch, classes);
  return cudaGetLastError();
}

cudaError_t SparseSoftmaxCrossEntropyBackward(cudaStream_t stream, const float* logits,
                                              const int32_t* labels, float grad_scale,
                                              float* dlogits, int64_t batch, int64_t classes) {
  if (batch == 0 || classes <= 0) return cudaSuccess;
  SparseXentBackwardKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(
      logits, labels, grad_scale, dlogits, batch, classes);
  return cudaGetLastError();
}

cudaError_t SparseSoftmaxCrossEntropyWithAccuracy(cudaStream_t stream, const float* logits,
                                                  const int32_t* labels, float grad_scale,
                                                  float* losses, float* dlogits, int64_t batch,
                                                  int64_t classes, unsigned long long* correct) {
  if (batch == 0) return cudaSuccess;
  if (classes <= 0) return Fill(stream, losses, 0.0f, batch);
  SparseXentWithAccuracyKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(
      logits, labels, grad_scale, losses, dlogits, batch, classes, correct);
  return cudaGetLastError();
}

cudaError_t SoftmaxCrossEntropyForward(cudaStream_t stream, const float* logits,
                                       const float* labels, float* losses, int64_t batch,
                                       int64_t classes) {
  if (batch == 0) return cudaSuccess;
  if (classes <= 0) return Fill(stream, losses, 0.0f, batch);
  XentForwardKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(logits, labels, losses, batch,
                                                                     classes);
  return cudaGetLastError();
}

cudaError_t SoftmaxCrossEntropyBackward(cudaStream_t stream, const float* logits,
                                        const float* labels, float grad_scale, float* dlogits,
                                        int64_t batch, int64_t classes) {
  if (batch == 0 || classes <= 0) return cudaSuccess;
  XentBackwardKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(logits, labels, grad_scale,
                                                                      dlogits, batch, classes);
  return cudaGetLastError();
}

cudaError_t MeanSquaredErrorForward(cudaStream_t stream, const float* pred, const float* target,
                                    float* losses, int64_t batch, int64_t dim) {
  if (batch == 0) return cudaSuccess;
  MseForwardKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(pred, target, losses, batch,
                                                                    dim);
  return cudaGetLastError();
}

cudaError_t MeanSquaredErrorBackward(cudaStream_t stream, const float* pred, const float* target,
                                     float grad_scale, float* dpred, int64_t batch, int64_t dim) {
  if (dim == 0 || batch == 0) return cudaSuccess;
  const float scale = 2.0f * grad_scale / static_cast<float>(dim);
  MseBackwardKernel<<<GridFor(batch * dim), kThreadsPerBlock, 0, stream>>>(pred, target, scale,
                                                                           dpred, batch * dim);
  return cudaGetLastError();
}

cudaError_t BinaryCrossEntropyForward(cudaStream_t stream, const float* output,
                                      const float* target, bool from_logits, float* losses,
                                      int64_t batch, int64_t dim) {
  if (batch == 0) return cudaSuccess;
  BceForwardKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(output, target, from_logits,
                                                                    losses, batch, dim);
  return cudaGetLastError();
}

cudaError_t BinaryCrossEntropyBackward(cudaStream_t stream, const float* output,
                                       const float* target, bool from_logits, float grad_scale,
                                       float* doutput, int64_t batch, int64_t dim) {
  if (dim == 0 || batch == 0) return cudaSuccess;
  const float scale = grad_scale / static_cast<float>(dim);
  BceBackwardKernel<<<GridFor(batch * dim), kThreadsPerBlock, 0, stream>>>(
      output, target, from_logits, scale, doutput, batch * dim);
  return cudaGetLastError();
}

cudaError_t ScaleRows(cudaStream_t stream, float* x, const float* row_scale, int64_t rows,
                      int64_t cols) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  ScaleRowsKernel<<<GridFor(rows * cols), kThreadsPerBlock, 0, stream>>>(x, row_scale, cols,
                                                                         rows * cols);
  return cudaGetLastError();
}

cudaError_t SparseAccuracyCount(cudaStream_t stream, const float* logits, const int32_t* labels,
                                int64_t batch, int64_t classes, unsigned long long* correct) {
  if (batch == 0 || classes <= 0) return cudaSuccess;
  AccuracyKernel<<<GridFor(batch), kThreadsPerBlock, 0, stream>>>(logits, labels, batch, classes,
                                                                  correct);
  return cudaGetLastError();
}

}  // namespace shardtrain::kernels::cuda
