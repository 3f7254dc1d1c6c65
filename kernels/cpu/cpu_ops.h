// The CPU kernels: free functions with the same names and meanings as the
// KernelBackend methods (kernels/backend.h), which CpuBackend forwards to.
// These are the specification every other backend is tested against.
//
// Arguments are assumed valid: the worker sizes every buffer from the model,
// and the dataset loader checks labels. All buffers are row-major float32
// unless stated; shapes are given as comments in the (dim, dim) style. Results
// are deterministic: loops split over OpenMP threads only write disjoint
// outputs, and every sum runs in a fixed order.
// Large elementwise loops (>= kParallelThreshold elements; dropout from 4096)
// are split over OpenMP threads (parallel.h). sgemm is OpenBLAS's, switched to
// one thread process-wide on first use, with large products split over the
// OpenMP threads instead (dense.cc explains why). Functions are reentrant.
#pragma once

#include <cstdint>

#include "kernels/backend.h"

namespace shardtrain::kernels::cpu {

// Elementwise loops with fewer elements than this run on the calling thread.
inline constexpr int64_t kParallelThreshold = 1 << 16;

// --- Dense and bias (dense.cc) -------------------------------------------------
// x (batch, in) · w (in, out) [+ b (out)] -> y (batch, out). b may be null.
void DenseForward(const float* x, const float* w, const float* b, float* y, int64_t batch,
                  int64_t in, int64_t out);
// dy (batch, out) -> dw (in, out) = xᵀ·dy, db (out) = Σ_batch dy, dx (batch, in) = dy·wᵀ.
// dw, db are overwritten. dx, db may be null.
void DenseBackward(const float* x, const float* w, const float* dy, float* dx, float* dw, float* db,
                   int64_t batch, int64_t in, int64_t out);
// y (rows, cols) += b (cols).
void BiasAdd(float* y, const float* b, int64_t rows, int64_t cols);
// db (cols) = Σ_rows dy (rows, cols), summed in row order.
void BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols);

// --- Convolution (conv.cc), NHWC, kernel (window_h, window_w, in_c, out_c) ---------
// y (batch, out_h, out_w, out_c) = conv(x, w) [+ b (out_c)]; zero padding. b may be null.
void Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w, const float* b,
                   float* y);
// dw, db (= Σ dy over batch and pixels), dx overwritten; dx, db may be null.
void Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w, const float* dy,
                    float* dx, float* dw, float* db);

// --- Pooling (pooling.cc), NHWC, out_c == in_c; padding positions are skipped -------
// y = max over each window's real inputs.
void MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y);
// dx (overwritten) = dy routed to each window's first maximum (row-major in the window).
void MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy, float* dx);
// y = mean over each window's real inputs (TF: padding does not count).
void AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y);
// dx (overwritten) = dy / (the window's real input count) to each real input.
void AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx);

// --- Batch normalization (batch_norm.cc), x (rows, channels) -------------------
// mean, variance (channels): column mean and biased variance, summed in double.
void BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean, float* variance);
// y = x · s + (beta - mean · s), s = gamma / sqrt(variance + epsilon) (Keras's form).
// gamma null = 1, beta null = 0. x == y allowed.
void BatchNormForward(const float* x, const float* mean, const float* variance, const float* gamma,
                      const float* beta, float epsilon, float* y, int64_t rows, int64_t channels);
// dbeta = Σ_rows dy, dgamma = Σ_rows dy · x̂ (overwritten), summed in double.
void BatchNormGradSums(const float* x, const float* dy, const float* mean, const float* variance,
                       float epsilon, float* dgamma, float* dbeta, int64_t rows, int64_t channels);
// dx = gamma / sqrt(variance + epsilon) · (dy - dbeta / count - x̂ · dgamma / count).
void BatchNormInputGrad(const float* x, const float* dy, const float* mean, const float* variance,
                        const float* gamma, const float* dgamma, const float* dbeta, float epsilon,
                        double count, float* dx, int64_t rows, int64_t channels);

// --- Elementwise and layout (layout.cc) ------------------------------------------
// y = a + b over n floats; y may alias a or b.
void Add(const float* a, const float* b, float* y, int64_t n);
// dst (rows, dst_cols)[:, col_offset : col_offset + src_cols] = src (rows, src_cols).
void CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst, int64_t dst_cols,
                     int64_t col_offset);
// dst (rows, dst_cols) = src (rows, src_cols)[:, col_offset : col_offset + dst_cols].
void CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols, int64_t col_offset,
                     float* dst, int64_t dst_cols);

// --- Activations (activations.cc) ----------------------------------------------
// y (rows, cols) = act(x (rows, cols)); softmax over each row (max subtracted).
// x == y allowed.
void ActivationForward(Activation act, const float* x, float* y, int64_t rows, int64_t cols);
// dx = dy · act'(x), written through y = act(x):
//   relu: dy·[y > 0]; sigmoid: dy·y(1-y); tanh: dy·(1-y²);
//   softmax: y ⊙ (dy - Σ_row dy⊙y). dy == dx allowed.
//   gelu (both forms): dy·gelu'(x), written through x passed as `y`.
void ActivationBackward(Activation act, const float* y, const float* dy, float* dx, int64_t rows,
                        int64_t cols);
// GELU of one value (kGelu: approximate false; kGeluTanh: true) and its derivative.
float GeluValue(float x, bool approximate);
float GeluDerivative(float x, bool approximate);

// --- Dropout (dropout.cc) -------------------------------------------------------
// mask[i] = (PhiloxBits(key.seed, key.step, key.layer, key.first_element + i) >> 8)
//           >= DropoutThreshold(rate);  y[i] = x[i] * mask[i] / (1 - rate).
// rate == 0: y = x, mask all 1. x == y allowed. Requires 0 <= rate < 1.
void DropoutForward(const DropoutKey& key, float rate, const float* x, float* y, uint8_t* mask,
                    int64_t n);
// dx[i] = dy[i] * mask[i] / (1 - rate). dy == dx allowed.
void DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx, int64_t n);

// --- Losses and metrics (losses.cc) ---------------------------------------------
// logits (batch, classes), labels (batch) in [0, classes) -> losses (batch):
// losses[b] = logsumexp(logits[b]) - logits[b][labels[b]].
void SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels, float* losses,
                                      int64_t batch, int64_t classes);
// dlogits (batch, classes) = (softmax(logits) - onehot(labels)) * grad_scale.
void SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels, float grad_scale,
                                       float* dlogits, int64_t batch, int64_t classes);
// labels (batch, classes) float (one-hot or soft):
// losses[b] = Σ_j labels[b][j] · (logsumexp(logits[b]) - logits[b][j]).
void SoftmaxCrossEntropyForward(const float* logits, const float* labels, float* losses,
                                int64_t batch, int64_t classes);
// The exact gradient of the forward above:
// dlogits = (softmax(logits) · Σ_j labels[b][j] - labels) * grad_scale,
// which is (softmax - labels) * grad_scale whenever each label row sums to 1.
void SoftmaxCrossEntropyBackward(const float* logits, const float* labels, float grad_scale,
                                 float* dlogits, int64_t batch, int64_t classes);
// Keras binary cross-entropy, output and target (batch, dim) -> losses (batch),
// the mean over dim; from logits in the stable form, from probabilities clipped
// to [1e-7, 1 - 1e-7] (KernelBackend::BinaryCrossEntropyForward).
void BinaryCrossEntropyForward(const float* output, const float* target, bool from_logits,
                               float* losses, int64_t batch, int64_t dim);
// Its gradient times grad_scale; 0 where the probability was clipped.
void BinaryCrossEntropyBackward(const float* output, const float* target, bool from_logits,
                                float grad_scale, float* doutput, int64_t batch, int64_t dim);
// x (rows, cols): row r *= row_scale[r].
void ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols);
// pred, target (batch, dim) -> losses (batch) = mean_j (pred - target)².
void MeanSquaredErrorForward(const float* pred, const float* target, float* losses, int64_t batch,
                             int64_t dim);
// dpred (batch, dim) = 2 (pred - target) / dim * grad_scale.
void MeanSquaredErrorBackward(const float* pred, const float* target, float grad_scale,
                              float* dpred, int64_t batch, int64_t dim);
// Rows of logits (batch, classes) whose first maximum is at labels[b].
int64_t SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                            int64_t classes);

// --- Optimizers (optimizers.cc), one flat buffer of n parameters ---------------
// Keras Adam (backend.h): alpha = lr·sqrt(1-b2^t)/(1-b1^t) (computed in double);
// m += (g - m)(1-b1); v += (g² - v)(1-b2); w -= alpha·m / (sqrt(v) + eps).
void AdamUpdate(const AdamParams& params, float* weights, const float* grads, float* m, float* v,
                int64_t n);
// Keras SGD: w -= lr g; with momentum v = mu v - lr g, then w += v
// (Nesterov: w += mu v - lr g). velocity may be null when momentum == 0.
void SgdUpdate(const SgdParams& params, float* weights, const float* grads, float* velocity,
               int64_t n);
// Keras RMSprop: ms = rho ms + (1-rho) g²; inc = lr g / sqrt(ms + eps);
// momentum > 0: mom = mu mom + inc, w -= mom; else w -= inc.
void RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                   float* mean_square, float* momentum_slot, int64_t n);

// --- Initializers (initializers.cc) ---------------------------------------------
// w (fan_in, fan_out): w[i] = -limit + 2·limit·BitsToUniform(PhiloxBits(seed, 0, stream, i)),
// limit = sqrt(6 / (fan_in + fan_out)).
void GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in, int64_t fan_out);
// The same over n elements with the limit from fan_in and fan_out (a conv
// kernel: n = kh·kw·in·out); GlorotUniform is GlorotUniformN with n = fan_in·fan_out.
void GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n, int64_t fan_in,
                    int64_t fan_out);
// x[0, n) = value.
void Fill(float* x, float value, int64_t n);

}  // namespace shardtrain::kernels::cpu
