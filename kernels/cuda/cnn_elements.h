// One output element of each convolution and pooling kernel of kernels/cuda,
// and of the elementwise batch-normalization kernels, as host-and-device
// functions: the CUDA kernels (conv.cu, pooling.cu, batch_norm.cu) call them
// once per thread, and tests/gpu/cnn_elements_test.cc calls them in a host
// loop against the CPU backend, so the index arithmetic and the float
// operations are checked on machines without a GPU. Geometry as kernels/backend.h's Conv2DGeometry
// (NHWC; output pixel (oy, ox) reads input row oy * stride_h - pad_top + ky).
// Every sum runs in a fixed order (ascending output position): deterministic,
// no atomics. Pure functions of their arguments; safe from any thread.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/backend.h"

#if defined(__CUDACC__)
#define SHARDTRAIN_ELEMENT __host__ __device__ __forceinline__
#else
#define SHARDTRAIN_ELEMENT inline
#endif

namespace shardtrain::kernels::cuda {

// Columns of one im2col row: window_h * window_w * in_c, ordered (ky, kx, c)
// like the rows of the Keras kernel viewed as a (K, out_c) matrix.
SHARDTRAIN_ELEMENT int64_t Im2colColumns(const Conv2DGeometry& g) {
  return g.window_h * g.window_w * g.in_c;
}

// Element i of the im2col matrix (batch * out_h * out_w, Im2colColumns) of the
// examples starting at x: the input under window tap (ky, kx, c) of output
// pixel (b, oy, ox), or 0 where the tap falls on padding.
SHARDTRAIN_ELEMENT float Im2colElement(const Conv2DGeometry& g, const float* x, int64_t i) {
  const int64_t k = Im2colColumns(g);
  const int64_t row = i / k, col = i % k;
  const int64_t c = col % g.in_c;
  const int64_t kx = (col / g.in_c) % g.window_w;
  const int64_t ky = col / (g.in_c * g.window_w);
  const int64_t ox = row % g.out_w;
  const int64_t oy = (row / g.out_w) % g.out_h;
  const int64_t b = row / (g.out_w * g.out_h);
  const int64_t iy = oy * g.stride_h - g.pad_top + ky;
  const int64_t ix = ox * g.stride_w - g.pad_left + kx;
  if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) return 0.0f;
  return x[((b * g.in_h + iy) * g.in_w + ix) * g.in_c + c];
}

// The output index range [*first, *last) along one axis whose windows cover
// input position `in`: the o with o * stride <= in + pad < o * stride + window.
// Empty (*first >= *last) when none does (inputs past the last valid window).
SHARDTRAIN_ELEMENT void CoveringOutputs(int64_t in, int64_t pad, int64_t window, int64_t stride,
                                        int64_t out_size, int64_t* first, int64_t* last) {
  const int64_t top = in + pad;  // position in padded coordinates
  const int64_t lowest = top - window + 1;
  *first = lowest <= 0 ? 0 : (lowest + stride - 1) / stride;
  const int64_t highest = top / stride;  // top >= 0 always
  *last = highest + 1 < out_size ? highest + 1 : out_size;
}

// Element i of dx (batch, in_h, in_w, in_c) from dcols (batch * out_h * out_w,
// Im2colColumns), the gradient of the im2col matrix: the sum of every column
// entry that copied input i, in ascending output pixel order (col2im, gather form).
SHARDTRAIN_ELEMENT float Col2imElement(const Conv2DGeometry& g, const float* dcols, int64_t i) {
  const int64_t c = i % g.in_c;
  const int64_t ix = (i / g.in_c) % g.in_w;
  const int64_t iy = (i / (g.in_c * g.in_w)) % g.in_h;
  const int64_t b = i / (g.in_c * g.in_w * g.in_h);
  int64_t oy0, oy1, ox0, ox1;
  CoveringOutputs(iy, g.pad_top, g.window_h, g.stride_h, g.out_h, &oy0, &oy1);
  CoveringOutputs(ix, g.pad_left, g.window_w, g.stride_w, g.out_w, &ox0, &ox1);
  const int64_t k = Im2colColumns(g);
  float sum = 0.0f;
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    const int64_t ky = iy + g.pad_top - oy * g.stride_h;
    for (int64_t ox = ox0; ox < ox1; ++ox) {
      const int64_t kx = ix + g.pad_left - ox * g.stride_w;
      const int64_t row = (b * g.out_h + oy) * g.out_w + ox;
      sum += dcols[row * k + (ky * g.window_w + kx) * g.in_c + c];
    }
  }
  return sum;
}

// The real (unpadded) input rows [*y0, *y1) and columns [*x0, *x1) of the
// window of output pixel (oy, ox).
SHARDTRAIN_ELEMENT void WindowBounds(const Conv2DGeometry& g, int64_t oy, int64_t ox, int64_t* y0,
                                     int64_t* y1, int64_t* x0, int64_t* x1) {
  const int64_t top = oy * g.stride_h - g.pad_top, left = ox * g.stride_w - g.pad_left;
  *y0 = top < 0 ? 0 : top;
  *y1 = top + g.window_h < g.in_h ? top + g.window_h : g.in_h;
  *x0 = left < 0 ? 0 : left;
  *x1 = left + g.window_w < g.in_w ? left + g.window_w : g.in_w;
}

// Input offset (within example b's image, channel c included) of the first
// maximum, in row-major window order, of the window of output pixel (oy, ox).
SHARDTRAIN_ELEMENT int64_t WindowArgmax(const Conv2DGeometry& g, const float* image, int64_t oy,
                                        int64_t ox, int64_t c) {
  int64_t y0, y1, x0, x1;
  WindowBounds(g, oy, ox, &y0, &y1, &x0, &x1);
  int64_t best = (y0 * g.in_w + x0) * g.in_c + c;
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x = x0; x < x1; ++x) {
      const int64_t at = (y * g.in_w + x) * g.in_c + c;
      if (image[at] > image[best]) best = at;
    }
  }
  return best;
}

// Element i of the pooled output (batch, out_h, out_w, in_c): the window's
// maximum, or with `average` its mean over the real inputs (summed row-major,
// then divided, as the CPU); 0 for a window without real inputs.
SHARDTRAIN_ELEMENT float PoolForwardElement(const Conv2DGeometry& g, const float* x, bool average,
                                            int64_t i) {
  const int64_t c = i % g.in_c;
  const int64_t ox = (i / g.in_c) % g.out_w;
  const int64_t oy = (i / (g.in_c * g.out_w)) % g.out_h;
  const int64_t b = i / (g.in_c * g.out_w * g.out_h);
  const float* image = x + b * g.in_h * g.in_w * g.in_c;
  int64_t y0, y1, x0, x1;
  WindowBounds(g, oy, ox, &y0, &y1, &x0, &x1);
  if (y0 >= y1 || x0 >= x1) return 0.0f;  // all padding (no Keras geometry makes one)
  if (!average) return image[WindowArgmax(g, image, oy, ox, c)];
  float sum = 0.0f;
  for (int64_t y = y0; y < y1; ++y) {
    for (int64_t x_at = x0; x_at < x1; ++x_at) sum += image[(y * g.in_w + x_at) * g.in_c + c];
  }
  return sum / static_cast<float>((y1 - y0) * (x1 - x0));
}

// Element i of dx (batch, in_h, in_w, in_c) of a pool: the sum, over the
// windows covering input i in ascending output order, of the window's dy
// routed to its first maximum (max pooling: x needed) or divided by its
// real input count (average pooling: x unused, may be null).
SHARDTRAIN_ELEMENT float PoolBackwardElement(const Conv2DGeometry& g, const float* x,
                                             const float* dy, bool average, int64_t i) {
  const int64_t c = i % g.in_c;
  const int64_t ix = (i / g.in_c) % g.in_w;
  const int64_t iy = (i / (g.in_c * g.in_w)) % g.in_h;
  const int64_t b = i / (g.in_c * g.in_w * g.in_h);
  const int64_t image_size = g.in_h * g.in_w * g.in_c;
  const int64_t self = i - b * image_size;
  int64_t oy0, oy1, ox0, ox1;
  CoveringOutputs(iy, g.pad_top, g.window_h, g.stride_h, g.out_h, &oy0, &oy1);
  CoveringOutputs(ix, g.pad_left, g.window_w, g.stride_w, g.out_w, &ox0, &ox1);
  float sum = 0.0f;
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    for (int64_t ox = ox0; ox < ox1; ++ox) {
      const float grad = dy[((b * g.out_h + oy) * g.out_w + ox) * g.in_c + c];
      if (average) {
        int64_t y0, y1, x0, x1;
        WindowBounds(g, oy, ox, &y0, &y1, &x0, &x1);
        sum += grad / static_cast<float>((y1 - y0) * (x1 - x0));
      } else if (WindowArgmax(g, x + b * image_size, oy, ox, c) == self) {
        sum += grad;
      }
    }
  }
  return sum;
}

// 1 / sqrt(variance + epsilon) in float, as Keras and the CPU compute it.
SHARDTRAIN_ELEMENT float BatchNormInverseStd(float variance, float epsilon) {
  return 1.0f / sqrtf(variance + epsilon);
}

// Element i of BatchNormForward's y, x viewed as (rows, channels), in the
// CPU's float operations: scale = γ / sqrt(var + ε), y = x · scale + (β - mean · scale).
SHARDTRAIN_ELEMENT float BatchNormForwardElement(const float* x, const float* mean,
                                                 const float* variance, const float* gamma,
                                                 const float* beta, float epsilon, int64_t channels,
                                                 int64_t i) {
  const int64_t c = i % channels;
  float scale = BatchNormInverseStd(variance[c], epsilon);
  if (gamma != nullptr) scale *= gamma[c];
  const float shift = (beta != nullptr ? beta[c] : 0.0f) - mean[c] * scale;
  return x[i] * scale + shift;
}

// Element i of BatchNormInputGrad's dx, in the CPU's float operations:
// γ / sqrt(var + ε) · (dy - dbeta / count - x̂ · dgamma / count), the two
// quotients in double.
SHARDTRAIN_ELEMENT float BatchNormInputGradElement(const float* x, const float* dy,
                                                   const float* mean, const float* variance,
                                                   const float* gamma, const float* dgamma,
                                                   const float* dbeta, float epsilon, double count,
                                                   int64_t channels, int64_t i) {
  const int64_t c = i % channels;
  const float inv_std = BatchNormInverseStd(variance[c], epsilon);
  const float scale = (gamma != nullptr ? gamma[c] : 1.0f) * inv_std;
  const float mean_dy = static_cast<float>(static_cast<double>(dbeta[c]) / count);
  const float mean_dy_xhat = static_cast<float>(static_cast<double>(dgamma[c]) / count);
  const float xhat = (x[i] - mean[c]) * inv_std;
  return scale * (dy[i] - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace shardtrain::kernels::cuda
