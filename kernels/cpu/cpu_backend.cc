// CpuBackend: forwards each KernelBackend method to kernels/cpu/cpu_ops.h.
#include "kernels/cpu/cpu_backend.h"

#include "kernels/cpu/cpu_ops.h"

namespace shardtrain::kernels::cpu {

void CpuBackend::DenseForward(const float* x, const float* w, const float* b, float* y,
                              int64_t batch, int64_t in, int64_t out) {
  cpu::DenseForward(x, w, b, y, batch, in, out);
}
void CpuBackend::DenseBackward(const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db, int64_t batch, int64_t in, int64_t out) {
  cpu::DenseBackward(x, w, dy, dx, dw, db, batch, in, out);
}
void CpuBackend::BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) {
  cpu::BiasAdd(y, b, rows, cols);
}
void CpuBackend::BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) {
  cpu::BiasGrad(dy, db, rows, cols);
}

void CpuBackend::Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w,
                               const float* b, float* y) {
  cpu::Conv2DForward(g, x, w, b, y);
}
void CpuBackend::Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w,
                                const float* dy, float* dx, float* dw, float* db) {
  cpu::Conv2DBackward(g, x, w, dy, dx, dw, db);
}
void CpuBackend::MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  cpu::MaxPool2DForward(g, x, y);
}
void CpuBackend::MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy,
                                   float* dx) {
  cpu::MaxPool2DBackward(g, x, dy, dx);
}
void CpuBackend::AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  cpu::AvgPool2DForward(g, x, y);
}
void CpuBackend::AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) {
  cpu::AvgPool2DBackward(g, dy, dx);
}

void CpuBackend::BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean,
                                  float* variance) {
  cpu::BatchNormMoments(x, rows, channels, mean, variance);
}
void CpuBackend::BatchNormForward(const float* x, const float* mean, const float* variance,
                                  const float* gamma, const float* beta, float epsilon, float* y,
                                  int64_t rows, int64_t channels) {
  cpu::BatchNormForward(x, mean, variance, gamma, beta, epsilon, y, rows, channels);
}
void CpuBackend::BatchNormGradSums(const float* x, const float* dy, const float* mean,
                                   const float* variance, float epsilon, float* dgamma,
                                   float* dbeta, int64_t rows, int64_t channels) {
  cpu::BatchNormGradSums(x, dy, mean, variance, epsilon, dgamma, dbeta, rows, channels);
}
void CpuBackend::BatchNormInputGrad(const float* x, const float* dy, const float* mean,
                                    const float* variance, const float* gamma, const float* dgamma,
                                    const float* dbeta, float epsilon, double count, float* dx,
                                    int64_t rows, int64_t channels) {
  cpu::BatchNormInputGrad(x, dy, mean, variance, gamma, dgamma, dbeta, epsilon, count, dx, rows,
                          channels);
}

void CpuBackend::Add(const float* a, const float* b, float* y, int64_t n) { cpu::Add(a, b, y, n); }
void CpuBackend::CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst,
                                 int64_t dst_cols, int64_t col_offset) {
  cpu::CopyColumnsInto(src, rows, src_cols, dst, dst_cols, col_offset);
}
void CpuBackend::CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols,
                                 int64_t col_offset, float* dst, int64_t dst_cols) {
  cpu::CopyColumnsFrom(src, rows, src_cols, col_offset, dst, dst_cols);
}

void CpuBackend::ActivationForward(Activation act, const float* x, float* y, int64_t rows,
                                   int64_t cols) {
  cpu::ActivationForward(act, x, y, rows, cols);
}
void CpuBackend::ActivationBackward(Activation act, const float* y, const float* dy, float* dx,
                                    int64_t rows, int64_t cols) {
  cpu::ActivationBackward(act, y, dy, dx, rows, cols);
}

void CpuBackend::DropoutForward(const DropoutKey& key, float rate, const float* x, float* y,
                                uint8_t* mask, int64_t n) {
  cpu::DropoutForward(key, rate, x, y, mask, n);
}
void CpuBackend::DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx,
                                 int64_t n) {
  cpu::DropoutBackward(rate, mask, dy, dx, n);
}

void CpuBackend::SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels,
                                                  float* losses, int64_t batch, int64_t classes) {
  cpu::SparseSoftmaxCrossEntropyForward(logits, labels, losses, batch, classes);
}
void CpuBackend::SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels,
                                                   float grad_scale, float* dlogits, int64_t batch,
                                                   int64_t classes) {
  cpu::SparseSoftmaxCrossEntropyBackward(logits, labels, grad_scale, dlogits, batch, classes);
}
void CpuBackend::SoftmaxCrossEntropyForward(const float* logits, const float* labels, float* losses,
                                            int64_t batch, int64_t classes) {
  cpu::SoftmaxCrossEntropyForward(logits, labels, losses, batch, classes);
}
void CpuBackend::SoftmaxCrossEntropyBackward(const float* logits, const float* labels,
                                             float grad_scale, float* dlogits, int64_t batch,
                                             int64_t classes) {
  cpu::SoftmaxCrossEntropyBackward(logits, labels, grad_scale, dlogits, batch, classes);
}
void CpuBackend::MeanSquaredErrorForward(const float* pred, const float* target, float* losses,
                                         int64_t batch, int64_t dim) {
  cpu::MeanSquaredErrorForward(pred, target, losses, batch, dim);
}
void CpuBackend::MeanSquaredErrorBackward(const float* pred, const float* target, float grad_scale,
                                          float* dpred, int64_t batch, int64_t dim) {
  cpu::MeanSquaredErrorBackward(pred, target, grad_scale, dpred, batch, dim);
}
void CpuBackend::BinaryCrossEntropyForward(const float* output, const float* target,
                                           bool from_logits, float* losses, int64_t batch,
                                           int64_t dim) {
  cpu::BinaryCrossEntropyForward(output, target, from_logits, losses, batch, dim);
}
void CpuBackend::BinaryCrossEntropyBackward(const float* output, const float* target,
                                            bool from_logits, float grad_scale, float* doutput,
                                            int64_t batch, int64_t dim) {
  cpu::BinaryCrossEntropyBackward(output, target, from_logits, grad_scale, doutput, batch, dim);
}
void CpuBackend::ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) {
  cpu::ScaleRows(x, row_scale, rows, cols);
}
int64_t CpuBackend::SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                                        int64_t classes) {
  return cpu::SparseAccuracyCount(logits, labels, batch, classes);
}

void CpuBackend::AdamUpdate(const AdamParams& params, float* weights, const float* grads, float* m,
                            float* v, int64_t n) {
  cpu::AdamUpdate(params, weights, grads, m, v, n);
}
void CpuBackend::SgdUpdate(const SgdParams& params, float* weights, const float* grads,
                           float* velocity, int64_t n) {
  cpu::SgdUpdate(params, weights, grads, velocity, n);
}
void CpuBackend::RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                               float* mean_square, float* momentum_slot, int64_t n) {
  cpu::RmspropUpdate(params, weights, grads, mean_square, momentum_slot, n);
}

void CpuBackend::GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in,
                               int64_t fan_out) {
  cpu::GlorotUniform(seed, stream, w, fan_in, fan_out);
}
void CpuBackend::GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n, int64_t fan_in,
                                int64_t fan_out) {
  cpu::GlorotUniformN(seed, stream, w, n, fan_in, fan_out);
}
void CpuBackend::Fill(float* x, float value, int64_t n) { cpu::Fill(x, value, n); }

}  // namespace shardtrain::kernels::cpu
