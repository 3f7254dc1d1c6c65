// Batch normalization over the last axis on the CPU: x viewed as (rows,
// channels). Moments and gradient sums accumulate in double over fixed blocks
// of rows, combined in block order, so results do not depend on threads.
// Elementwise passes split rows over threads.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

// Rows per partial sum: a fixed size, so the summation order is fixed.
constexpr int64_t kRowBlock = 512;

// sums (channels) = Σ_rows term(row, c) in double: per block of kRowBlock rows
// in row order, then the blocks in order. term(r, c) reads row r, column c.
template <typename Term>
std::vector<double> ColumnSums(int64_t rows, int64_t channels, const Term& term) {
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  std::vector<double> partial(static_cast<size_t>(blocks * channels), 0.0);
  ParallelFor(
      blocks, rows * channels >= kParallelThreshold,
      [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
          double* sum = partial.data() + blk * channels;
          const int64_t r1 = std::min(rows, (blk + 1) * kRowBlock);
          for (int64_t r = blk * kRowBlock; r < r1; ++r) {
            for (int64_t c = 0; c < channels; ++c) sum[c] += term(r, c);
          }
        }
      },
      1);
  std::vector<double> sums(static_cast<size_t>(channels), 0.0);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    for (int64_t c = 0; c < channels; ++c) sums[c] += partial[blk * channels + c];
  }
  return sums;
}

// 1 / sqrt(variance + epsilon) per channel, in float as Keras computes it.
std::vector<float> InverseStd(const float* variance, float epsilon, int64_t channels) {
  std::vector<float> inv(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) inv[c] = 1.0f / std::sqrt(variance[c] + epsilon);
  return inv;
}

// y (rows, channels) = x · scale[c] + shift[c], rows split over threads.
void ScaleShift(const float* x, const float* scale, const float* shift, float* y, int64_t rows,
                int64_t channels) {
  ParallelFor(
      rows, rows * channels >= kParallelThreshold,
      [=](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* in = x + r * channels;
          float* out = y + r * channels;
          for (int64_t c = 0; c < channels; ++c) out[c] = in[c] * scale[c] + shift[c];
        }
      },
      1);
}

}  // namespace

void BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean,
                      float* variance) {
  const std::vector<double> sums =
      ColumnSums(rows, channels, [=](int64_t r, int64_t c) { return double{x[r * channels + c]}; });
  const double denom = rows > 0 ? static_cast<double>(rows) : 1.0;
  std::vector<double> mu(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) mu[c] = sums[c] / denom;
  const double* m = mu.data();
  const std::vector<double> squares = ColumnSums(rows, channels, [=](int64_t r, int64_t c) {
    const double d = double{x[r * channels + c]} - m[c];
    return d * d;
  });
  for (int64_t c = 0; c < channels; ++c) {
    mean[c] = static_cast<float>(mu[c]);
    variance[c] = static_cast<float>(squares[c] / denom);
  }
}

void BatchNormForward(const float* x, const float* mean, const float* variance, const float* gamma,
                      const float* beta, float epsilon, float* y, int64_t rows, int64_t channels) {
  // Keras: inv = gamma / sqrt(var + eps); y = x · inv + (beta - mean · inv).
  std::vector<float> scale = InverseStd(variance, epsilon, channels);
  std::vector<float> shift(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    if (gamma != nullptr) scale[c] *= gamma[c];
    shift[c] = (beta != nullptr ? beta[c] : 0.0f) - mean[c] * scale[c];
  }
  ScaleShift(x, scale.data(), shift.data(), y, rows, channels);
}

void BatchNormGradSums(const float* x, const float* dy, const float* mean, const float* variance,
                       float epsilon, float* dgamma, float* dbeta, int64_t rows, int64_t channels) {
  const std::vector<float> inv = InverseStd(variance, epsilon, channels);
  const std::vector<double> dy_sums = ColumnSums(
      rows, channels, [=](int64_t r, int64_t c) { return double{dy[r * channels + c]}; });
  const std::vector<double> dy_x_sums = ColumnSums(rows, channels, [=](int64_t r, int64_t c) {
    const int64_t i = r * channels + c;
    return double{dy[i]} * (double{x[i]} - double{mean[c]});
  });
  for (int64_t c = 0; c < channels; ++c) {
    dbeta[c] = static_cast<float>(dy_sums[c]);
    dgamma[c] = static_cast<float>(dy_x_sums[c] * double{inv[c]});
  }
}

void BatchNormInputGrad(const float* x, const float* dy, const float* mean, const float* variance,
                        const float* gamma, const float* dgamma, const float* dbeta, float epsilon,
                        double count, float* dx, int64_t rows, int64_t channels) {
  // dx = k (dy - dbeta / count - x̂ dgamma / count), k = gamma · inv, x̂ = (x - mean) · inv.
  const std::vector<float> inv = InverseStd(variance, epsilon, channels);
  std::vector<float> k(static_cast<size_t>(channels)), beta_term(k.size()), gamma_term(k.size());
  for (int64_t c = 0; c < channels; ++c) {
    k[c] = (gamma != nullptr ? gamma[c] : 1.0f) * inv[c];
    beta_term[c] = static_cast<float>(double{dbeta[c]} / count);
    gamma_term[c] = static_cast<float>(double{dgamma[c]} / count);
  }
  const float *kp = k.data(), *bt = beta_term.data(), *gt = gamma_term.data(), *ip = inv.data();
  ParallelFor(
      rows, rows * channels >= kParallelThreshold,
      [=](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          for (int64_t c = 0; c < channels; ++c) {
            const int64_t i = r * channels + c;
            const float x_hat = (x[i] - mean[c]) * ip[c];
            dx[i] = kp[c] * (dy[i] - bt[c] - x_hat * gt[c]);
          }
        }
      },
      1);
}

}  // namespace shardtrain::kernels::cpu
