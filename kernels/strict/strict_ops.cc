// StrictDeviceBackend's ops: each checks its pointer arguments, opens their
// allocations and runs the CPU kernel of the same name (Run, in
// strict_device_backend.h). Argument names are backend.h's; kMayBeNull marks
// the arguments backend.h lets be null.
#include "kernels/strict/strict_device_backend.h"

namespace shardtrain::kernels::strict {

void StrictDeviceBackend::DenseForward(const float* x, const float* w, const float* b, float* y,
                                       int64_t batch, int64_t in, int64_t out) {
  Run("DenseForward", {{"x", x}, {"w", w}, {"b", b, kMayBeNull}, {"y", y}},
      [&] { cpu_.DenseForward(x, w, b, y, batch, in, out); });
}
void StrictDeviceBackend::DenseBackward(const float* x, const float* w, const float* dy, float* dx,
                                        float* dw, float* db, int64_t batch, int64_t in,
                                        int64_t out) {
  Run("DenseBackward",
      {{"x", x}, {"w", w}, {"dy", dy}, {"dx", dx, kMayBeNull}, {"dw", dw}, {"db", db, kMayBeNull}},
      [&] { cpu_.DenseBackward(x, w, dy, dx, dw, db, batch, in, out); });
}
void StrictDeviceBackend::BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) {
  Run("BiasAdd", {{"y", y}, {"b", b}}, [&] { cpu_.BiasAdd(y, b, rows, cols); });
}
void StrictDeviceBackend::BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) {
  Run("BiasGrad", {{"dy", dy}, {"db", db}}, [&] { cpu_.BiasGrad(dy, db, rows, cols); });
}

void StrictDeviceBackend::Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w,
                                        const float* b, float* y) {
  Run("Conv2DForward", {{"x", x}, {"w", w}, {"b", b, kMayBeNull}, {"y", y}},
      [&] { cpu_.Conv2DForward(g, x, w, b, y); });
}
void StrictDeviceBackend::Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w,
                                         const float* dy, float* dx, float* dw, float* db) {
  Run("Conv2DBackward",
      {{"x", x}, {"w", w}, {"dy", dy}, {"dx", dx, kMayBeNull}, {"dw", dw}, {"db", db, kMayBeNull}},
      [&] { cpu_.Conv2DBackward(g, x, w, dy, dx, dw, db); });
}
void StrictDeviceBackend::MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  Run("MaxPool2DForward", {{"x", x}, {"y", y}}, [&] { cpu_.MaxPool2DForward(g, x, y); });
}
void StrictDeviceBackend::MaxPool2DBackward(const Conv2DGeometry& g, const float* x,
                                            const float* dy, float* dx) {
  Run("MaxPool2DBackward", {{"x", x}, {"dy", dy}, {"dx", dx}},
      [&] { cpu_.MaxPool2DBackward(g, x, dy, dx); });
}
void StrictDeviceBackend::AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) {
  Run("AvgPool2DForward", {{"x", x}, {"y", y}}, [&] { cpu_.AvgPool2DForward(g, x, y); });
}
void StrictDeviceBackend::AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) {
  Run("AvgPool2DBackward", {{"dy", dy}, {"dx", dx}}, [&] { cpu_.AvgPool2DBackward(g, dy, dx); });
}

void StrictDeviceBackend::BatchNormMoments(const float* x, int64_t rows, int64_t channels,
                                           float* mean, float* variance) {
  Run("BatchNormMoments", {{"x", x}, {"mean", mean}, {"variance", variance}},
      [&] { cpu_.BatchNormMoments(x, rows, channels, mean, variance); });
}
void StrictDeviceBackend::BatchNormForward(const float* x, const float* mean, const float* variance,
                                           const float* gamma, const float* beta, float epsilon,
                                           float* y, int64_t rows, int64_t channels) {
  Run("BatchNormForward",
      {{"x", x},
       {"mean", mean},
       {"variance", variance},
       {"gamma", gamma, kMayBeNull},
       {"beta", beta, kMayBeNull},
       {"y", y}},
      [&] { cpu_.BatchNormForward(x, mean, variance, gamma, beta, epsilon, y, rows, channels); });
}
void StrictDeviceBackend::BatchNormGradSums(const float* x, const float* dy, const float* mean,
                                            const float* variance, float epsilon, float* dgamma,
                                            float* dbeta, int64_t rows, int64_t channels) {
  Run("BatchNormGradSums",
      {{"x", x},
       {"dy", dy},
       {"mean", mean},
       {"variance", variance},
       {"dgamma", dgamma},
       {"dbeta", dbeta}},
      [&] {
        cpu_.BatchNormGradSums(x, dy, mean, variance, epsilon, dgamma, dbeta, rows, channels);
      });
}
void StrictDeviceBackend::BatchNormInputGrad(const float* x, const float* dy, const float* mean,
                                             const float* variance, const float* gamma,
                                             const float* dgamma, const float* dbeta, float epsilon,
                                             double count, float* dx, int64_t rows,
                                             int64_t channels) {
  Run("BatchNormInputGrad",
      {{"x", x},
       {"dy", dy},
       {"mean", mean},
       {"variance", variance},
       {"gamma", gamma, kMayBeNull},
       {"dgamma", dgamma},
       {"dbeta", dbeta},
       {"dx", dx}},
      [&] {
        cpu_.BatchNormInputGrad(x, dy, mean, variance, gamma, dgamma, dbeta, epsilon, count, dx,
                                rows, channels);
      });
}

void StrictDeviceBackend::Add(const float* a, const float* b, float* y, int64_t n) {
  Run("Add", {{"a", a}, {"b", b}, {"y", y}}, [&] { cpu_.Add(a, b, y, n); });
}
void StrictDeviceBackend::CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols,
                                          float* dst, int64_t dst_cols, int64_t col_offset) {
  Run("CopyColumnsInto", {{"src", src}, {"dst", dst}},
      [&] { cpu_.CopyColumnsInto(src, rows, src_cols, dst, dst_cols, col_offset); });
}
void StrictDeviceBackend::CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols,
                                          int64_t col_offset, float* dst, int64_t dst_cols) {
  Run("CopyColumnsFrom", {{"src", src}, {"dst", dst}},
      [&] { cpu_.CopyColumnsFrom(src, rows, src_cols, col_offset, dst, dst_cols); });
}

void StrictDeviceBackend::ActivationForward(Activation act, const float* x, float* y, int64_t rows,
                                            int64_t cols) {
  Run("ActivationForward", {{"x", x}, {"y", y}},
      [&] { cpu_.ActivationForward(act, x, y, rows, cols); });
}
void StrictDeviceBackend::ActivationBackward(Activation act, const float* y, const float* dy,
                                             float* dx, int64_t rows, int64_t cols) {
  Run("ActivationBackward", {{"y", y}, {"dy", dy}, {"dx", dx}},
      [&] { cpu_.ActivationBackward(act, y, dy, dx, rows, cols); });
}

void StrictDeviceBackend::DropoutForward(const DropoutKey& key, float rate, const float* x,
                                         float* y, uint8_t* mask, int64_t n) {
  Run("DropoutForward", {{"x", x}, {"y", y}, {"mask", mask}},
      [&] { cpu_.DropoutForward(key, rate, x, y, mask, n); });
}
void StrictDeviceBackend::DropoutBackward(float rate, const uint8_t* mask, const float* dy,
                                          float* dx, int64_t n) {
  Run("DropoutBackward", {{"mask", mask}, {"dy", dy}, {"dx", dx}},
      [&] { cpu_.DropoutBackward(rate, mask, dy, dx, n); });
}

void StrictDeviceBackend::AdamUpdate(const AdamParams& params, float* weights, const float* grads,
                                     float* m, float* v, int64_t n) {
  Run("AdamUpdate", {{"weights", weights}, {"grads", grads}, {"m", m}, {"v", v}},
      [&] { cpu_.AdamUpdate(params, weights, grads, m, v, n); });
}
void StrictDeviceBackend::SgdUpdate(const SgdParams& params, float* weights, const float* grads,
                                    float* velocity, int64_t n) {
  Run("SgdUpdate", {{"weights", weights}, {"grads", grads}, {"velocity", velocity, kMayBeNull}},
      [&] { cpu_.SgdUpdate(params, weights, grads, velocity, n); });
}
void StrictDeviceBackend::RmspropUpdate(const RmspropParams& params, float* weights,
                                        const float* grads, float* mean_square,
                                        float* momentum_slot, int64_t n) {
  Run("RmspropUpdate",
      {{"weights", weights},
       {"grads", grads},
       {"mean_square", mean_square},
       {"momentum_slot", momentum_slot, kMayBeNull}},
      [&] { cpu_.RmspropUpdate(params, weights, grads, mean_square, momentum_slot, n); });
}

void StrictDeviceBackend::GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in,
                                        int64_t fan_out) {
  Run("GlorotUniform", {{"w", w}}, [&] { cpu_.GlorotUniform(seed, stream, w, fan_in, fan_out); });
}
void StrictDeviceBackend::GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n,
                                         int64_t fan_in, int64_t fan_out) {
  Run("GlorotUniformN", {{"w", w}},
      [&] { cpu_.GlorotUniformN(seed, stream, w, n, fan_in, fan_out); });
}
void StrictDeviceBackend::Fill(float* x, float value, int64_t n) {
  Run("Fill", {{"x", x}}, [&] { cpu_.Fill(x, value, n); });
}

}  // namespace shardtrain::kernels::strict
