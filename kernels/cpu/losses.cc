// Loss and metric kernels on the CPU: softmax cross-entropy from logits (sparse
// int32 labels and dense float labels), binary cross-entropy (from logits or
// probabilities), mean squared error, per-example loss weights (ScaleRows) and
// the sparse accuracy count. Softmax subtracts the row max; every sum runs left
// to right.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

namespace shardtrain::kernels::cpu {
namespace {

struct RowStats {
  float max;
  float sum_exp;  // Σ_j exp(x_j - max), >= 1
  float LogSumExp() const { return max + std::log(sum_exp); }
};

// Keras's backend.epsilon(): probabilities are clipped to [kEpsilon, 1 - kEpsilon].
constexpr float kEpsilon = 1e-7f;

// TensorFlow's sigmoid_cross_entropy_with_logits: no overflow for any x.
float BinaryCrossEntropyFromLogit(float x, float t) {
  return std::max(x, 0.0f) - x * t + std::log1p(std::exp(-std::fabs(x)));
}

float Sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

float BinaryCrossEntropyFromProbability(float p, float t) {
  const float clipped = std::min(std::max(p, kEpsilon), 1.0f - kEpsilon);
  return -(t * std::log(clipped) + (1.0f - t) * std::log(1.0f - clipped));
}

// d/dp of the above: -t/p + (1 - t)/(1 - p); clipping passes no gradient outside.
float BinaryCrossEntropyProbabilityGrad(float p, float t) {
  if (p < kEpsilon || p > 1.0f - kEpsilon) return 0.0f;
  return (1.0f - t) / (1.0f - p) - t / p;
}

RowStats Stats(const float* row, int64_t cols) {
  float max = row[0];
  for (int64_t c = 1; c < cols; ++c) max = std::max(max, row[c]);
  float sum = 0.0f;
  for (int64_t c = 0; c < cols; ++c) sum += std::exp(row[c] - max);
  return {max, sum};
}

}  // namespace

void SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels, float* losses,
                                      int64_t batch, int64_t classes) {
  // logits (batch, classes), labels (batch) -> losses (batch)
  if (classes <= 0) return Fill(losses, 0.0f, batch);
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    const RowStats s = Stats(row, classes);
    losses[b] = std::log(s.sum_exp) + (s.max - row[labels[b]]);
  }
}

void SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels, float grad_scale,
                                       float* dlogits, int64_t batch, int64_t classes) {
  // dlogits (batch, classes) = (softmax - onehot) * grad_scale
  if (classes <= 0) return;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    float* drow = dlogits + b * classes;
    const RowStats s = Stats(row, classes);
    const float scale = grad_scale / s.sum_exp;
    for (int64_t c = 0; c < classes; ++c) drow[c] = std::exp(row[c] - s.max) * scale;
    drow[labels[b]] -= grad_scale;
  }
}

void SoftmaxCrossEntropyForward(const float* logits, const float* labels, float* losses,
                                int64_t batch, int64_t classes) {
  // logits, labels (batch, classes) -> losses (batch) = Σ_j labels_j (lse - x_j)
  if (classes <= 0) return Fill(losses, 0.0f, batch);
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    const float* lrow = labels + b * classes;
    const RowStats s = Stats(row, classes);
    const float lse = s.LogSumExp();
    float loss = 0.0f;
    for (int64_t c = 0; c < classes; ++c) loss += lrow[c] * (lse - row[c]);
    losses[b] = loss;
  }
}

void SoftmaxCrossEntropyBackward(const float* logits, const float* labels, float grad_scale,
                                 float* dlogits, int64_t batch, int64_t classes) {
  // dlogits (batch, classes) = (softmax · Σ labels - labels) * grad_scale
  if (classes <= 0) return;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    const float* lrow = labels + b * classes;
    float* drow = dlogits + b * classes;
    const RowStats s = Stats(row, classes);
    float label_sum = 0.0f;
    for (int64_t c = 0; c < classes; ++c) label_sum += lrow[c];
    const float scale = grad_scale * label_sum / s.sum_exp;
    for (int64_t c = 0; c < classes; ++c) {
      drow[c] = std::exp(row[c] - s.max) * scale - lrow[c] * grad_scale;
    }
  }
}

void BinaryCrossEntropyForward(const float* output, const float* target, bool from_logits,
                               float* losses, int64_t batch, int64_t dim) {
  // output, target (batch, dim) -> losses (batch), the mean over dim
  for (int64_t b = 0; b < batch; ++b) {
    const float* o = output + b * dim;
    const float* t = target + b * dim;
    float sum = 0.0f;
    for (int64_t j = 0; j < dim; ++j) {
      sum += from_logits ? BinaryCrossEntropyFromLogit(o[j], t[j])
                         : BinaryCrossEntropyFromProbability(o[j], t[j]);
    }
    losses[b] = dim > 0 ? sum / static_cast<float>(dim) : 0.0f;
  }
}

void BinaryCrossEntropyBackward(const float* output, const float* target, bool from_logits,
                                float grad_scale, float* doutput, int64_t batch, int64_t dim) {
  // doutput (batch, dim) = dl/doutput / dim * grad_scale
  if (dim == 0) return;
  const float scale = grad_scale / static_cast<float>(dim);
  for (int64_t i = 0; i < batch * dim; ++i) {
    const float g = from_logits ? Sigmoid(output[i]) - target[i]
                                : BinaryCrossEntropyProbabilityGrad(output[i], target[i]);
    doutput[i] = g * scale;
  }
}

void ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] *= row_scale[r];
  }
}

void MeanSquaredErrorForward(const float* pred, const float* target, float* losses, int64_t batch,
                             int64_t dim) {
  // pred, target (batch, dim) -> losses (batch)
  for (int64_t b = 0; b < batch; ++b) {
    const float* p = pred + b * dim;
    const float* t = target + b * dim;
    float sum = 0.0f;
    for (int64_t j = 0; j < dim; ++j) {
      const float d = p[j] - t[j];
      sum += d * d;
    }
    losses[b] = dim > 0 ? sum / static_cast<float>(dim) : 0.0f;
  }
}

void MeanSquaredErrorBackward(const float* pred, const float* target, float grad_scale,
                              float* dpred, int64_t batch, int64_t dim) {
  // dpred (batch, dim) = 2 (pred - target) / dim * grad_scale
  if (dim == 0) return;
  const float scale = 2.0f * grad_scale / static_cast<float>(dim);
  const int64_t n = batch * dim;
  ParallelFor(n, n >= kParallelThreshold, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dpred[i] = (pred[i] - target[i]) * scale;
  });
}

int64_t SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                            int64_t classes) {
  // logits (batch, classes), labels (batch); ties go to the first maximum.
  int64_t correct = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits + b * classes;
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (row[c] > row[best]) best = c;
    }
    if (classes > 0 && best == labels[b]) ++correct;
  }
  return correct;
}

}  // namespace shardtrain::kernels::cpu
