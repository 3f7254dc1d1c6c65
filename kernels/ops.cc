// Checked entry points (kernels/ops.h): validate dtypes, ranks, shapes, devices
// and label ranges, with InvalidArgument messages that name the op, the
// argument and the shapes involved; then dispatch to the backend.
#include "kernels/ops.h"

#include <cmath>
#include <sstream>
#include <string>
#include <string_view>

namespace shardtrain::kernels {
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

std::string ShapeOf(const TensorView& t) { return t.shape().ToString(); }

// An optional argument is absent when its view has no data.
bool IsAbsent(const TensorView& t) { return t.data() == nullptr; }

// Dtype, device and data of one argument, and its rank when `rank` >= 0
// (`layout` names the dims, e.g. "(batch, in)"); `rank` == -1 means rank >= 1.
Status CheckArg(KernelBackend& backend, std::string_view op, std::string_view name,
                const TensorView& t, DType dtype, int rank, std::string_view layout) {
  if (t.dtype() != dtype) {
    return InvalidArgumentError(Cat(op, ": ", name, " has dtype ", DTypeName(t.dtype()),
                                    " but must be ", DTypeName(dtype), " (shape ", ShapeOf(t),
                                    ")"));
  }
  if (t.device() != backend.device()) {
    return InvalidArgumentError(Cat(op, ": ", name, " ", ShapeOf(t), " is on ",
                                    DeviceName(t.device()), " but the ", backend.name(),
                                    " backend runs on ", DeviceName(backend.device())));
  }
  if (rank >= 0 ? t.shape().rank() != rank : t.shape().rank() < 1) {
    return InvalidArgumentError(
        Cat(op, ": ", name, " has shape ", ShapeOf(t), " but must be ", layout));
  }
  if (t.data() == nullptr && t.num_elements() > 0) {
    return InvalidArgumentError(Cat(op, ": ", name, " ", ShapeOf(t), " has no data"));
  }
  return OkStatus();
}

Status CheckShape(std::string_view op, std::string_view name, const TensorView& t,
                  const Shape& expected, std::string_view why) {
  if (t.shape() == expected) return OkStatus();
  return InvalidArgumentError(Cat(op, ": ", name, " has shape ", ShapeOf(t), " but must be ",
                                  expected.ToString(), " (", why, ")"));
}

Status CheckActivation(std::string_view op, Activation act) {
  const int value = static_cast<int>(act);
  if (value < static_cast<int>(Activation::kLinear) ||
      value > static_cast<int>(Activation::kSoftmax)) {
    return InvalidArgumentError(Cat(op, ": unknown activation ", value));
  }
  return OkStatus();
}

Status CheckRate(std::string_view op, float rate) {
  if (!(rate >= 0.0f && rate < 1.0f)) {
    return InvalidArgumentError(Cat(op, ": rate is ", rate, " but must be in [0, 1)"));
  }
  return OkStatus();
}

// logits (batch, classes) float32 and labels (batch) int32 in [0, classes).
Status CheckLogitsAndLabels(KernelBackend& backend, std::string_view op, const TensorView& logits,
                            const TensorView& labels) {
  RETURN_IF_ERROR(CheckArg(backend, op, "logits", logits, DType::kFloat32, 2, "(batch, classes)"));
  RETURN_IF_ERROR(CheckArg(backend, op, "labels", labels, DType::kInt32, 1, "(batch)"));
  const int64_t batch = logits.shape().dim(0);
  const int64_t classes = logits.shape().dim(1);
  if (classes < 1) {
    return InvalidArgumentError(
        Cat(op, ": logits has shape ", ShapeOf(logits), " but needs at least one class"));
  }
  if (labels.shape().dim(0) != batch) {
    return InvalidArgumentError(Cat(op, ": labels has shape ", ShapeOf(labels), " but logits ",
                                    ShapeOf(logits), " has batch ", batch));
  }
  const int32_t* values = labels.data_as<const int32_t>();
  for (int64_t b = 0; b < batch; ++b) {
    if (values[b] < 0 || values[b] >= classes) {
      return InvalidArgumentError(Cat(op, ": labels[", b, "] = ", values[b], " is outside [0, ",
                                      classes, ") for logits ", ShapeOf(logits)));
    }
  }
  return OkStatus();
}

}  // namespace

Status DenseForward(KernelBackend& backend, const TensorView& x, const TensorView& w,
                    const TensorView& b, const TensorView& y) {
  constexpr std::string_view kOp = "DenseForward";
  RETURN_IF_ERROR(CheckArg(backend, kOp, "x", x, DType::kFloat32, 2, "(batch, in)"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "w", w, DType::kFloat32, 2, "(in, out)"));
  const int64_t batch = x.shape().dim(0);
  const int64_t in = x.shape().dim(1);
  const int64_t out = w.shape().dim(1);
  if (w.shape().dim(0) != in) {
    return InvalidArgumentError(Cat(kOp, ": w has shape ", ShapeOf(w), " but x has ", in,
                                    " features (x shape ", ShapeOf(x), ")"));
  }
  const bool has_bias = !IsAbsent(b);
  if (has_bias) {
    RETURN_IF_ERROR(CheckArg(backend, kOp, "b", b, DType::kFloat32, 1, "(out)"));
    RETURN_IF_ERROR(CheckShape(kOp, "b", b, Shape{out}, Cat("w has shape ", ShapeOf(w))));
  }
  RETURN_IF_ERROR(CheckArg(backend, kOp, "y", y, DType::kFloat32, 2, "(batch, out)"));
  RETURN_IF_ERROR(
      CheckShape(kOp, "y", y, Shape{batch, out}, Cat("x ", ShapeOf(x), " · w ", ShapeOf(w))));
  backend.DenseForward(x.data_as<const float>(), w.data_as<const float>(),
                       has_bias ? b.data_as<const float>() : nullptr, y.data_as<float>(), batch, in,
                       out);
  return OkStatus();
}

Status DenseBackward(KernelBackend& backend, const TensorView& x, const TensorView& w,
                     const TensorView& dy, const TensorView& dx, const TensorView& dw,
                     const TensorView& db) {
  constexpr std::string_view kOp = "DenseBackward";
  RETURN_IF_ERROR(CheckArg(backend, kOp, "x", x, DType::kFloat32, 2, "(batch, in)"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "w", w, DType::kFloat32, 2, "(in, out)"));
  const int64_t batch = x.shape().dim(0);
  const int64_t in = x.shape().dim(1);
  const int64_t out = w.shape().dim(1);
  if (w.shape().dim(0) != in) {
    return InvalidArgumentError(Cat(kOp, ": w has shape ", ShapeOf(w), " but x has ", in,
                                    " features (x shape ", ShapeOf(x), ")"));
  }
  RETURN_IF_ERROR(CheckArg(backend, kOp, "dy", dy, DType::kFloat32, 2, "(batch, out)"));
  RETURN_IF_ERROR(
      CheckShape(kOp, "dy", dy, Shape{batch, out}, Cat("x ", ShapeOf(x), " · w ", ShapeOf(w))));
  const bool has_dx = !IsAbsent(dx);
  if (has_dx) {
    RETURN_IF_ERROR(CheckArg(backend, kOp, "dx", dx, DType::kFloat32, 2, "(batch, in)"));
    RETURN_IF_ERROR(CheckShape(kOp, "dx", dx, x.shape(), "the shape of x"));
  }
  RETURN_IF_ERROR(CheckArg(backend, kOp, "dw", dw, DType::kFloat32, 2, "(in, out)"));
  RETURN_IF_ERROR(CheckShape(kOp, "dw", dw, w.shape(), "the shape of w"));
  const bool has_db = !IsAbsent(db);
  if (has_db) {
    RETURN_IF_ERROR(CheckArg(backend, kOp, "db", db, DType::kFloat32, 1, "(out)"));
    RETURN_IF_ERROR(CheckShape(kOp, "db", db, Shape{out}, Cat("w has shape ", ShapeOf(w))));
  }
  backend.DenseBackward(x.data_as<const float>(), w.data_as<const float>(),
                        dy.data_as<const float>(), has_dx ? dx.data_as<float>() : nullptr,
                        dw.data_as<float>(), has_db ? db.data_as<float>() : nullptr, batch, in,
                        out);
  return OkStatus();
}

Status ActivationForward(KernelBackend& backend, Activation act, const TensorView& x,
                         const TensorView& y) {
  constexpr std::string_view kOp = "ActivationForward";
  RETURN_IF_ERROR(CheckActivation(kOp, act));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "x", x, DType::kFloat32, -1, "(..., cols)"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "y", y, DType::kFloat32, -1, "(..., cols)"));
  RETURN_IF_ERROR(CheckShape(kOp, "y", y, x.shape(), "the shape of x"));
  const int64_t cols = x.shape().dim(x.shape().rank() - 1);
  const int64_t rows = cols > 0 ? x.num_elements() / cols : 0;
  backend.ActivationForward(act, x.data_as<const float>(), y.data_as<float>(), rows, cols);
  return OkStatus();
}

Status ActivationBackward(KernelBackend& backend, Activation act, const TensorView& y,
                          const TensorView& dy, const TensorView& dx) {
  constexpr std::string_view kOp = "ActivationBackward";
  RETURN_IF_ERROR(CheckActivation(kOp, act));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "y", y, DType::kFloat32, -1, "(..., cols)"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "dy", dy, DType::kFloat32, -1, "(..., cols)"));
  RETURN_IF_ERROR(CheckShape(kOp, "dy", dy, y.shape(), "the shape of y"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "dx", dx, DType::kFloat32, -1, "(..., cols)"));
  RETURN_IF_ERROR(CheckShape(kOp, "dx", dx, y.shape(), "the shape of y"));
  const int64_t cols = y.shape().dim(y.shape().rank() - 1);
  const int64_t rows = cols > 0 ? y.num_elements() / cols : 0;
  backend.ActivationBackward(act, y.data_as<const float>(), dy.data_as<const float>(),
                             dx.data_as<float>(), rows, cols);
  return OkStatus();
}

Status DropoutForward(KernelBackend& backend, const DropoutKey& key, float rate,
                      const TensorView& x, const TensorView& y, const TensorView& mask) {
  constexpr std::string_view kOp = "DropoutForward";
  RETURN_IF_ERROR(CheckRate(kOp, rate));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "x", x, DType::kFloat32, -1, "(batch, ...)"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "y", y, DType::kFloat32, -1, "(batch, ...)"));
  RETURN_IF_ERROR(CheckShape(kOp, "y", y, x.shape(), "the shape of x"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "mask", mask, DType::kUInt8, -1, "(batch, ...)"));
  if (mask.num_elements() != x.num_elements()) {
    return InvalidArgumentError(Cat(kOp, ": mask has shape ", ShapeOf(mask), " but x has shape ",
                                    ShapeOf(x), "; they need the same number of elements"));
  }
  backend.DropoutForward(key, rate, x.data_as<const float>(), y.data_as<float>(),
                         mask.data_as<uint8_t>(), x.num_elements());
  return OkStatus();
}

Status DropoutBackward(KernelBackend& backend, float rate, const TensorView& mask,
                       const TensorView& dy, const TensorView& dx) {
  constexpr std::string_view kOp = "DropoutBackward";
  RETURN_IF_ERROR(CheckRate(kOp, rate));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "dy", dy, DType::kFloat32, -1, "(batch, ...)"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "dx", dx, DType::kFloat32, -1, "(batch, ...)"));
  RETURN_IF_ERROR(CheckShape(kOp, "dx", dx, dy.shape(), "the shape of dy"));
  RETURN_IF_ERROR(CheckArg(backend, kOp, "mask", mask, DType::kUInt8, -1, "(batch, ...)"));
  if (mask.num_elements() != dy.num_elements()) {
    return InvalidArgumentError(Cat(kOp, ": mask has shape ", ShapeOf(mask), " but dy has shape ",
                                    ShapeOf(dy), "; they need the same number of elements"));
  }
  backend.DropoutBackward(rate, mask.data_as<const uint8_t>(), dy.data_as<const float>(),
                          dx.data_as<float>(), dy.num_elements());
  return OkStatus();
}

StatusOr<TensorView> Flatten(const TensorView& x) {
  if (x.shape().rank() < 1) {
    return InvalidArgumentError(
        Cat("Flatten: x has shape ", ShapeOf(x), " but must have a batch dimension"));
  }
  const int64_t batch = x.shape().dim(0);
  int64_t features = 1;
  for (int i = 1; i < x.shape().rank(); ++i) features *= x.shape().dim(i);
  return x.Reshaped(Shape{batch, features});
}

Status SparseSoftmaxCrossEntropyForward(KernelBackend& backend, const TensorView& logits,
                                        const TensorView& labels, const TensorView& losses) {
  constexpr std::string_view kOp = "SparseSoftmaxCrossEntropyForward";
  RETURN_IF_ERROR(CheckLogitsAndLabels(backend, kOp, logits, labels));
  const int64_t batch = logits.shape().dim(0);
  const int64_t classes = logits.shape().dim(1);
  RETURN_IF_ERROR(CheckArg(backend, kOp, "losses", losses, DType::kFloat32, 1, "(batch)"));
  RETURN_IF_ERROR(CheckShape(kOp, "losses", losses, Shape{batch}, Cat("logits ", ShapeOf(logits))));
  backend.SparseSoftmaxCrossEntropyForward(logits.data_as<const float>(),
                                           labels.data_as<const int32_t>(), losses.data_as<float>(),
                                           batch, classes);
  return OkStatus();
}

Status SparseSoftmaxCrossEntropyBackward(KernelBackend& backend, const TensorView& logits,
                                         const TensorView& labels, float grad_scale,
                                         const TensorView& dlogits) {
  constexpr std::string_view kOp = "SparseSoftmaxCrossEntropyBackward";
  RETURN_IF_ERROR(CheckLogitsAndLabels(backend, kOp, logits, labels));
  RETURN_IF_ERROR(
      CheckArg(backend, kOp, "dlogits", dlogits, DType::kFloat32, 2, "(batch, classes)"));
  RETURN_IF_ERROR(CheckShape(kOp, "dlogits", dlogits, logits.shape(), "the shape of logits"));
  backend.SparseSoftmaxCrossEntropyBackward(
      logits.data_as<const float>(), labels.data_as<const int32_t>(), grad_scale,
      dlogits.data_as<float>(), logits.shape().dim(0), logits.shape().dim(1));
  return OkStatus();
}

StatusOr<int64_t> SparseAccuracyCount(KernelBackend& backend, const TensorView& logits,
                                      const TensorView& labels) {
  RETURN_IF_ERROR(CheckLogitsAndLabels(backend, "SparseAccuracyCount", logits, labels));
  return backend.SparseAccuracyCount(logits.data_as<const float>(), labels.data_as<const int32_t>(),
                                     logits.shape().dim(0), logits.shape().dim(1));
}

}  // namespace shardtrain::kernels
