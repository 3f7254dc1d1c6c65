// Checked entry points for the kernels: each validates dtypes, shapes and
// devices of its TensorViews (InvalidArgument naming the argument and both
// shapes), then dispatches to the backend. Callers outside kernels/ use these.
#pragma once

#include "common/status.h"
#include "common/tensor_view.h"
#include "kernels/backend.h"

namespace shardtrain::kernels {

// x (batch, in), w (in, out), b (out) or empty view, y (batch, out); float32.
Status DenseForward(KernelBackend& backend, const TensorView& x, const TensorView& w,
                    const TensorView& b, const TensorView& y);
// dx may be an empty view (not needed for the first layer); db empty when no bias.
Status DenseBackward(KernelBackend& backend, const TensorView& x, const TensorView& w,
                     const TensorView& dy, const TensorView& dx, const TensorView& dw,
                     const TensorView& db);
// x, y (rows, cols) of equal shape; the last dim is the softmax axis.
Status ActivationForward(KernelBackend& backend, Activation act, const TensorView& x,
                         const TensorView& y);
Status ActivationBackward(KernelBackend& backend, Activation act, const TensorView& y,
                          const TensorView& dy, const TensorView& dx);
// mask uint8 with as many elements as x.
Status DropoutForward(KernelBackend& backend, const DropoutKey& key, float rate,
                      const TensorView& x, const TensorView& y, const TensorView& mask);
Status DropoutBackward(KernelBackend& backend, float rate, const TensorView& mask,
                       const TensorView& dy, const TensorView& dx);
// Flatten: (batch, d1, d2, ...) -> (batch, d1*d2*...), the same buffer.
StatusOr<TensorView> Flatten(const TensorView& x);
// logits (batch, classes) float32; labels (batch) int32 in [0, classes) -> losses (batch).
Status SparseSoftmaxCrossEntropyForward(KernelBackend& backend, const TensorView& logits,
                                        const TensorView& labels, const TensorView& losses);
Status SparseSoftmaxCrossEntropyBackward(KernelBackend& backend, const TensorView& logits,
                                         const TensorView& labels, float grad_scale,
                                         const TensorView& dlogits);
StatusOr<int64_t> SparseAccuracyCount(KernelBackend& backend, const TensorView& logits,
                                      const TensorView& labels);

}  // namespace shardtrain::kernels
