// StrictDeviceBackend's losses and metrics: each checks its pointer arguments,
// opens their allocations and runs the CPU kernel of the same name (Run, in
// strict_device_backend.h). Argument names are backend.h's.
#include "kernels/strict/strict_device_backend.h"

namespace shardtrain::kernels::strict {

void StrictDeviceBackend::SparseSoftmaxCrossEntropyForward(const float* logits,
                                                           const int32_t* labels, float* losses,
                                                           int64_t batch, int64_t classes) {
  Run("SparseSoftmaxCrossEntropyForward",
      {{"logits", logits}, {"labels", labels}, {"losses", losses}},
      [&] { cpu_.SparseSoftmaxCrossEntropyForward(logits, labels, losses, batch, classes); });
}
void StrictDeviceBackend::SparseSoftmaxCrossEntropyBackward(const float* logits,
                                                            const int32_t* labels, float grad_scale,
                                                            float* dlogits, int64_t batch,
                                                            int64_t classes) {
  Run("SparseSoftmaxCrossEntropyBackward",
      {{"logits", logits}, {"labels", labels}, {"dlogits", dlogits}}, [&] {
        cpu_.SparseSoftmaxCrossEntropyBackward(logits, labels, grad_scale, dlogits, batch, classes);
      });
}
void StrictDeviceBackend::SoftmaxCrossEntropyForward(const float* logits, const float* labels,
                                                     float* losses, int64_t batch,
                                                     int64_t classes) {
  Run("SoftmaxCrossEntropyForward", {{"logits", logits}, {"labels", labels}, {"losses", losses}},
      [&] { cpu_.SoftmaxCrossEntropyForward(logits, labels, losses, batch, classes); });
}
void StrictDeviceBackend::SoftmaxCrossEntropyBackward(const float* logits, const float* labels,
                                                      float grad_scale, float* dlogits,
                                                      int64_t batch, int64_t classes) {
  Run("SoftmaxCrossEntropyBackward", {{"logits", logits}, {"labels", labels}, {"dlogits", dlogits}},
      [&] {
        cpu_.SoftmaxCrossEntropyBackward(logits, labels, grad_scale, dlogits, batch, classes);
      });
}
void StrictDeviceBackend::MeanSquaredErrorForward(const float* pred, const float* target,
                                                  float* losses, int64_t batch, int64_t dim) {
  Run("MeanSquaredErrorForward", {{"pred", pred}, {"target", target}, {"losses", losses}},
      [&] { cpu_.MeanSquaredErrorForward(pred, target, losses, batch, dim); });
}
void StrictDeviceBackend::MeanSquaredErrorBackward(const float* pred, const float* target,
                                                   float grad_scale, float* dpred, int64_t batch,
                                                   int64_t dim) {
  Run("MeanSquaredErrorBackward", {{"pred", pred}, {"target", target}, {"dpred", dpred}},
      [&] { cpu_.MeanSquaredErrorBackward(pred, target, grad_scale, dpred, batch, dim); });
}
void StrictDeviceBackend::BinaryCrossEntropyForward(const float* output, const float* target,
                                                    bool from_logits, float* losses, int64_t batch,
                                                    int64_t dim) {
  Run("BinaryCrossEntropyForward", {{"output", output}, {"target", target}, {"losses", losses}},
      [&] { cpu_.BinaryCrossEntropyForward(output, target, from_logits, losses, batch, dim); });
}
void StrictDeviceBackend::BinaryCrossEntropyBackward(const float* output, const float* target,
                                                     bool from_logits, float grad_scale,
                                                     float* doutput, int64_t batch, int64_t dim) {
  Run("BinaryCrossEntropyBackward", {{"output", output}, {"target", target}, {"doutput", doutput}},
      [&] {
        cpu_.BinaryCrossEntropyBackward(output, target, from_logits, grad_scale, doutput, batch,
                                        dim);
      });
}
void StrictDeviceBackend::ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) {
  Run("ScaleRows", {{"x", x}, {"row_scale", row_scale}},
      [&] { cpu_.ScaleRows(x, row_scale, rows, cols); });
}
int64_t StrictDeviceBackend::SparseAccuracyCount(const float* logits, const int32_t* labels,
                                                 int64_t batch, int64_t classes) {
  int64_t count = 0;  // what a skipped op returns
  Run("SparseAccuracyCount", {{"logits", logits}, {"labels", labels}},
      [&] { count = cpu_.SparseAccuracyCount(logits, labels, batch, classes); });
  return count;
}

}  // namespace shardtrain::kernels::strict
