// CudaBackend's convolutional-model ops (contract in cuda_backend.h and
// kernels/backend.h): Conv2D as im2col + cuBLAS sgemm (+ col2im for dx) over
// chunks of the batch sized to the backend's workspace (a pointwise 1x1
// convolution is the Dense GEMMs over every pixel, no im2col), and forwarding
// of the pooling, batch-normalization, Add, column-copy and GlorotUniformN ops
// to their kernels (cuda_ops.h), with errors recorded as in cuda_backend.cu.
#include <algorithm>

#include "kernels/cuda/cnn_elements.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/cuda_status.h"

namespace shardtrain::kernels::cuda {
namespace {

// A 1x1 window at stride 1 without padding: im2col would copy x unchanged, so
// the convolution is a Dense layer over every pixel.
bool IsPointwise(const Conv2DGeometry& g) {
  return g.window_h == 1 && g.window_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
}

}  // namespace

int64_t CudaBackend::ReserveConvChunk(const Conv2DGeometry& g) {
  const int64_t example_bytes =
      g.out_h * g.out_w * Im2colColumns(g) * static_cast<int64_t>(sizeof(float));
  const int64_t fit =
      static_cast<int64_t>(kConvWorkspaceBytes) / std::max<int64_t>(example_bytes, 1);
  const int64_t chunk = std::clamp<int64_t>(fit, 1, std::max<int64_t>(g.batch, 1));
  if (!SHARDTRAIN_RECORD(conv_workspace_.Reserve(static_cast<size_t>(chunk * example_bytes)))) {
    return 0;
  }
  return chunk;
}

// Per chunk of examples: cols = im2col(x); y (pixels, out_c) = cols · w [+ y].
// Row-major products are computed as their column-major transposes, as in
// DenseForward.
void CudaBackend::Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w,
                                const float* b, float* y) {
  const int64_t pixels = g.out_h * g.out_w, k = Im2colColumns(g);
  if (!status_.ok() || g.batch * pixels == 0 || g.out_c == 0) return;
  if (IsPointwise(g)) return DenseForward(x, w, b, y, g.batch * pixels, g.in_c, g.out_c);
  if (b != nullptr) SHARDTRAIN_RECORD(BroadcastRows(stream_, b, y, g.batch * pixels, g.out_c));
  if (k == 0) {
    if (b == nullptr) SHARDTRAIN_RECORD(cuda::Fill(stream_, y, 0.0f, g.batch * pixels * g.out_c));
    return;
  }
  const int64_t chunk = ReserveConvChunk(g);
  if (chunk == 0) return;
  float* cols = conv_workspace_.floats();
  for (int64_t first = 0; first < g.batch && status_.ok(); first += chunk) {
    Conv2DGeometry part = g;
    part.batch = std::min(chunk, g.batch - first);
    SHARDTRAIN_RECORD(Im2col(stream_, part, x + first * g.in_h * g.in_w * g.in_c, cols));
    // yᵀ (out_c × rows) = wᵀ (out_c × k) · colsᵀ (k × rows)
    Gemm(false, false, g.out_c, part.batch * pixels, k, w, g.out_c, cols, k,
         b != nullptr ? 1.0f : 0.0f, y + first * pixels * g.out_c, g.out_c, __FILE__, __LINE__);
  }
}

// db = Σ dy over every pixel; per chunk: cols = im2col(x), dw (+)= colsᵀ · dy,
// then dcols = dy · wᵀ into the same workspace and dx = col2im(dcols).
void CudaBackend::Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w,
                                 const float* dy, float* dx, float* dw, float* db) {
  if (!status_.ok()) return;
  const int64_t pixels = g.out_h * g.out_w, k = Im2colColumns(g);
  const int64_t image = g.in_h * g.in_w * g.in_c;
  if (IsPointwise(g)) return DenseBackward(x, w, dy, dx, dw, db, g.batch * pixels, g.in_c, g.out_c);
  if (db != nullptr) SHARDTRAIN_RECORD(cuda::BiasGrad(stream_, dy, db, g.batch * pixels, g.out_c));
  if (g.batch * pixels == 0 || g.out_c == 0 || k == 0) {
    SHARDTRAIN_RECORD(cuda::Fill(stream_, dw, 0.0f, k * g.out_c));
    if (dx != nullptr) SHARDTRAIN_RECORD(cuda::Fill(stream_, dx, 0.0f, g.batch * image));
    return;
  }
  const int64_t chunk = ReserveConvChunk(g);
  if (chunk == 0) return;
  float* cols = conv_workspace_.floats();
  for (int64_t first = 0; first < g.batch && status_.ok(); first += chunk) {
    Conv2DGeometry part = g;
    part.batch = std::min(chunk, g.batch - first);
    const int64_t rows = part.batch * pixels;
    const float* dy_part = dy + first * pixels * g.out_c;
    SHARDTRAIN_RECORD(Im2col(stream_, part, x + first * image, cols));
    // dwᵀ (out_c × k) (+)= dyᵀ (out_c × rows) · cols (rows × k)
    Gemm(false, true, g.out_c, k, rows, dy_part, g.out_c, cols, k, first == 0 ? 0.0f : 1.0f, dw,
         g.out_c, __FILE__, __LINE__);
    if (dx == nullptr) continue;
    // dcolsᵀ (k × rows) = w (k × out_c) · dyᵀ (out_c × rows)
    Gemm(true, false, k, rows, g.out_c, w, g.out_c, dy_part, g.out_c, 0.0f, cols, k, __FILE__,
         __LINE__);
    SHARDTRAIN_RECORD(Col2im(stream_, part, cols, dx + first * image));
  }
}

void CudaBackend::MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::MaxPool2DForward(stream_, g, x, y));
}

void CudaBackend::MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy,
                                    float* dx) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::MaxPool2DBackward(stream_, g, x, dy, dx));
}

void CudaBackend::AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::AvgPool2DForward(stream_, g, x, y));
}

void CudaBackend::AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::AvgPool2DBackward(stream_, g, dy, dx));
}

void CudaBackend::BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean,
                                   float* variance) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::BatchNormMoments(stream_, x, rows, channels, mean, variance));
  }
}

void CudaBackend::BatchNormForward(const float* x, const float* mean, const float* variance,
                                   const float* gamma, const float* beta, float epsilon, float* y,
                                   int64_t rows, int64_t channels) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::BatchNormForward(stream_, x, mean, variance, gamma, beta, epsilon, y,
                                             rows, channels));
  }
}

void CudaBackend::BatchNormGradSums(const float* x, const float* dy, const float* mean,
                                    const float* variance, float epsilon, float* dgamma,
                                    float* dbeta, int64_t rows, int64_t channels) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::BatchNormGradSums(stream_, x, dy, mean, variance, epsilon, dgamma,
                                              dbeta, rows, channels));
  }
}

void CudaBackend::BatchNormInputGrad(const float* x, const float* dy, const float* mean,
                                     const float* variance, const float* gamma, const float* dgamma,
                                     const float* dbeta, float epsilon, double count, float* dx,
                                     int64_t rows, int64_t channels) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::BatchNormInputGrad(stream_, x, dy, mean, variance, gamma, dgamma, dbeta,
                                               epsilon, count, dx, rows, channels));
  }
}

void CudaBackend::Add(const float* a, const float* b, float* y, int64_t n) {
  if (status_.ok()) SHARDTRAIN_RECORD(cuda::Add(stream_, a, b, y, n));
}

void CudaBackend::CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst,
                                  int64_t dst_cols, int64_t col_offset) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(
        cuda::CopyColumnsInto(stream_, src, rows, src_cols, dst, dst_cols, col_offset));
  }
}

void CudaBackend::CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols,
                                  int64_t col_offset, float* dst, int64_t dst_cols) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(
        cuda::CopyColumnsFrom(stream_, src, rows, src_cols, col_offset, dst, dst_cols));
  }
}

void CudaBackend::GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n,
                                 int64_t fan_in, int64_t fan_out) {
  if (status_.ok()) {
    SHARDTRAIN_RECORD(cuda::GlorotUniformN(stream_, seed, stream, w, n, fan_in, fan_out));
  }
}

}  // namespace shardtrain::kernels::cuda
