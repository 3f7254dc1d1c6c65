// KernelBackend: the one interface every compute backend (CPU, CUDA) implements.
//
// Methods take raw pointers (to the backend's device memory) and sizes and
// assume valid arguments: callers (worker/, serving/) size every buffer from
// the shapes of the model or graph they run. Each op has the same name and
// meaning on every backend; the CPU backend (kernels/cpu) is the
// specification, and the CUDA backend (kernels/cuda) is tested against it.
//
// Layouts are row-major. Dense weights use the Keras layout (in, out).
// A backend instance is not thread-safe; use one per worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "common/status.h"
#include "common/tensor_view.h"
#include "kernels/device_buffer.h"

namespace shardtrain::kernels {

// kGelu is Keras's gelu (approximate=False): 0.5 x (1 + erf(x / sqrt(2)));
// kGeluTanh its approximate=True form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
enum class Activation : int { kLinear = 0, kRelu, kSigmoid, kTanh, kSoftmax, kGelu, kGeluTanh };
// GELU's constants as tf.nn.gelu casts them to float32 (shared by every backend).
inline constexpr float kSqrt2 = 1.4142135623730951f;
inline constexpr float kInvSqrt2Pi = 0.3989422804014327f;
inline constexpr float kGeluTanhScale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float kGeluCubic = 0.044715f;

std::string_view ActivationName(Activation activation);

// Whether ActivationBackward takes the forward input x instead of the output
// y (GELU cannot be differentiated through its output).
inline bool BackwardTakesInput(Activation act) {
  return act == Activation::kGelu || act == Activation::kGeluTanh;
}

// Identifies one dropout mask: element e of the mask draws
// PhiloxBits(seed, step, layer, first_element + e).
struct DropoutKey {
  uint64_t seed = 0;
  uint64_t step = 0;
  uint32_t layer = 0;
  // Global index of this batch's first element, so a mask does not depend on how
  // a global batch is split over ranks: (first example of the rank) * features.
  uint64_t first_element = 0;
};

// Keras Adam: lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t);
// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t * m / (sqrt(v) + eps).
struct AdamParams {
  float learning_rate = 1e-3f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
  int64_t iteration = 1;  // t, counted from 1 (this update included)
};

// Keras SGD: without momentum p -= lr g. With momentum: v = mu v - lr g;
// p += v, or with Nesterov p += mu v - lr g.
struct SgdParams {
  float learning_rate = 1e-2f;
  float momentum = 0.0f;
  bool nesterov = false;
};

// Keras 3 RMSprop (uncentered): ms = rho ms + (1-rho) g^2;
// inc = lr g / sqrt(ms + eps); with momentum: mom = mu mom + inc, p -= mom;
// otherwise p -= inc.
struct RmspropParams {
  float learning_rate = 1e-3f;
  float rho = 0.9f;
  float epsilon = 1e-7f;
  float momentum = 0.0f;
};

// One 2-D convolution or pooling window geometry, channels_last (NHWC):
// input (batch, in_h, in_w, in_c), output (batch, out_h, out_w, out_c).
// Output pixel (oy, ox) reads input rows oy * stride_h - pad_top + ky,
// ky in [0, window_h) (columns alike); positions outside the input are
// padding (zero for convolution, skipped for pooling). WindowGeometry()
// fills out_h/out_w and the pads for Keras's "valid" and "same".
struct Conv2DGeometry {
  int64_t batch = 0;
  int64_t in_h = 0, in_w = 0, in_c = 0;
  int64_t out_h = 0, out_w = 0, out_c = 0;  // pooling: out_c == in_c
  int64_t window_h = 0, window_w = 0;       // kernel or pool size
  int64_t stride_h = 1, stride_w = 1;
  // TF "SAME": total pad = max((out-1)*stride + window - in, 0), top = total / 2.
  int64_t pad_top = 0, pad_left = 0;
};

// Fills g->out_h/out_w/pad_top/pad_left from the input size, window, strides
// and padding ("valid": out = (in - window) / stride + 1, no pad; "same":
// out = ceil(in / stride)). False when a valid output would be empty.
bool WindowGeometry(bool same_padding, Conv2DGeometry* g);

class KernelBackend {
 public:
  virtual ~KernelBackend() = default;
  virtual std::string_view name() const = 0;
  virtual Device device() const = 0;
  // The first failure of an op since the last call, naming its call site (ops
  // return void; an asynchronous backend keeps its first error here). CPU ops
  // cannot fail: always OK.
  virtual Status CheckErrors() { return OkStatus(); }

  // --- Memory, copies, streams and events ----------------------------------------
  // Handles (kernels/device_buffer.h) are released through this backend, which
  // must outlive them. Ops run on Stream::kCompute.
  //
  // Device memory of `bytes` bytes; `what` names it in errors ("parameters",
  // "activation of conv2d_1"): ResourceExhausted "out of device memory
  // allocating <what> (<bytes> bytes)". bytes == 0 gives an empty handle;
  // bytes < 0 is InvalidArgument.
  virtual StatusOr<DeviceBuffer> AllocateDevice(int64_t bytes, std::string_view what) = 0;
  // Host memory the backend copies from/to asynchronously (page-locked on
  // CUDA); the same errors, "out of pinned host memory allocating ...".
  virtual StatusOr<PinnedBuffer> AllocatePinned(int64_t bytes, std::string_view what) = 0;
  // Enqueued on `stream` after the work already there, asynchronous to the
  // host (the CPU backend copies at once). Host pointers should be pinned for
  // overlap. Failures are kept for CheckErrors()/Synchronize().
  virtual void CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                            Stream stream = Stream::kCompute) = 0;
  virtual void CopyToHost(void* host_dst, const void* device_src, int64_t bytes,
                          Stream stream = Stream::kCompute) = 0;
  virtual void CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                            Stream stream = Stream::kCompute) = 0;
  virtual StatusOr<Event> CreateEvent() = 0;
  // Marks the point after the work enqueued so far on `stream`.
  virtual void RecordEvent(Event& event, Stream stream) = 0;
  // Work enqueued on `stream` later waits for the event's point (no host wait).
  virtual void StreamWaitEvent(Stream stream, const Event& event) = 0;
  // The host waits for the event's point; then CheckErrors().
  virtual Status WaitEvent(const Event& event) = 0;
  // The host waits for every stream; then CheckErrors().
  virtual Status Synchronize() = 0;
  // True when host code may read and write device memory directly (the CPU
  // backend: device memory is host memory, copies are memcpy; false for CUDA
  // and the strict device). Code that wants zero-copy on the CPU tests this.
  virtual bool host_reads_device_memory() const = 0;

  // --- Dense and bias ---------------------------------------------------------
  // y (batch, out) = x (batch, in) · w (in, out) [+ b (out)]; b may be null.
  virtual void DenseForward(const float* x, const float* w, const float* b, float* y, int64_t batch,
                            int64_t in, int64_t out) = 0;
  // Given dy (batch, out): dw (in, out) = xᵀ·dy; db (out) = Σ_batch dy; dx (batch, in) = dy·wᵀ.
  // dw and db are overwritten (not accumulated). dx and db may be null.
  virtual void DenseBackward(const float* x, const float* w, const float* dy, float* dx, float* dw,
                             float* db, int64_t batch, int64_t in, int64_t out) = 0;
  // y (rows, cols) += b (cols), in place.
  virtual void BiasAdd(float* y, const float* b, int64_t rows, int64_t cols) = 0;
  // db (cols) = Σ_rows dy (rows, cols).
  virtual void BiasGrad(const float* dy, float* db, int64_t rows, int64_t cols) = 0;

  // --- Convolution (NHWC input, kernel (window_h, window_w, in_c, out_c) as Keras stores it) ---
  // y = conv(x, w) [+ b (out_c)]; b may be null. Deterministic.
  virtual void Conv2DForward(const Conv2DGeometry& g, const float* x, const float* w,
                             const float* b, float* y) = 0;
  // Given dy: dw = d/dw (overwritten), db = Σ dy over batch and pixels
  // (overwritten; may be null), dx = d/dx (overwritten; may be null).
  virtual void Conv2DBackward(const Conv2DGeometry& g, const float* x, const float* w,
                              const float* dy, float* dx, float* dw, float* db) = 0;

  // --- Pooling (NHWC, out_c == in_c) ----------------------------------------------
  // y = the maximum over each window's real inputs.
  virtual void MaxPool2DForward(const Conv2DGeometry& g, const float* x, float* y) = 0;
  // dx (overwritten) = each window's dy routed to the first position (row-major
  // within the window) holding the window's maximum, as TF's MaxPoolGrad does;
  // overlapping windows add.
  virtual void MaxPool2DBackward(const Conv2DGeometry& g, const float* x, const float* dy,
                                 float* dx) = 0;
  // y = the mean over each window's real (unpadded) inputs.
  virtual void AvgPool2DForward(const Conv2DGeometry& g, const float* x, float* y) = 0;
  // dx (overwritten) = each window's dy / (its real input count) to each real input.
  virtual void AvgPool2DBackward(const Conv2DGeometry& g, const float* dy, float* dx) = 0;

  // --- Batch normalization over the last axis: x viewed as (rows, channels) -------
  // mean[c] and variance[c] (biased: divided by rows) of column c.
  virtual void BatchNormMoments(const float* x, int64_t rows, int64_t channels, float* mean,
                                float* variance) = 0;
  // y = gamma (x - mean) / sqrt(variance + epsilon) + beta; gamma null means 1,
  // beta null means 0. Training passes the batch's moments, inference the
  // moving ones. In place (x == y) allowed.
  virtual void BatchNormForward(const float* x, const float* mean, const float* variance,
                                const float* gamma, const float* beta, float epsilon, float* y,
                                int64_t rows, int64_t channels) = 0;
  // Per channel over the rows: dbeta = Σ dy, dgamma = Σ dy · x̂ with
  // x̂ = (x - mean) / sqrt(variance + epsilon). Both overwritten.
  virtual void BatchNormGradSums(const float* x, const float* dy, const float* mean,
                                 const float* variance, float epsilon, float* dgamma, float* dbeta,
                                 int64_t rows, int64_t channels) = 0;
  // dx for normalization by batch moments over `count` rows in all (rows
  // here, more when the moments span ranks), from the sums above (over the
  // same `count` rows): dx = gamma / sqrt(variance + epsilon) ·
  // (dy - dbeta / count - x̂ · dgamma / count). gamma null means 1.
  virtual void BatchNormInputGrad(const float* x, const float* dy, const float* mean,
                                  const float* variance, const float* gamma, const float* dgamma,
                                  const float* dbeta, float epsilon, double count, float* dx,
                                  int64_t rows, int64_t channels) = 0;

  // --- Elementwise and layout -----------------------------------------------------
  // y = a + b over n floats; y may alias a or b.
  virtual void Add(const float* a, const float* b, float* y, int64_t n) = 0;
  // dst (rows, dst_cols), columns [col_offset, col_offset + src_cols) = src (rows, src_cols).
  virtual void CopyColumnsInto(const float* src, int64_t rows, int64_t src_cols, float* dst,
                               int64_t dst_cols, int64_t col_offset) = 0;
  // dst (rows, dst_cols) = src (rows, src_cols) columns [col_offset, col_offset + dst_cols).
  virtual void CopyColumnsFrom(const float* src, int64_t rows, int64_t src_cols, int64_t col_offset,
                               float* dst, int64_t dst_cols) = 0;

  // --- Activations ------------------------------------------------------------
  // y = act(x), shapes (rows, cols); softmax is over each row. In place (x == y) is allowed.
  virtual void ActivationForward(Activation act, const float* x, float* y, int64_t rows,
                                 int64_t cols) = 0;
  // dx = dy · act'(…), expressed through the forward output y, or for the
  // activations where BackwardTakesInput(act) through the forward input x
  // (passed as `y`). In place (dy == dx) allowed.
  virtual void ActivationBackward(Activation act, const float* y, const float* dy, float* dx,
                                  int64_t rows, int64_t cols) = 0;

  // --- Dropout (inverted: kept elements are scaled by 1/(1-rate)) --------------
  // Element i is kept when (PhiloxBits(key, i) >> 8) >= rate * 2^24 (see DropoutThreshold).
  // mask[i] = 1 if kept else 0. y = x * mask / (1 - rate). In place allowed.
  virtual void DropoutForward(const DropoutKey& key, float rate, const float* x, float* y,
                              uint8_t* mask, int64_t n) = 0;
  // dx = dy * mask / (1 - rate). In place allowed.
  virtual void DropoutBackward(float rate, const uint8_t* mask, const float* dy, float* dx,
                               int64_t n) = 0;

  // --- Losses and metrics -----------------------------------------------------
  // Sparse softmax cross-entropy from logits (batch, classes), labels int32 (batch).
  // losses[b] = logsumexp(logits[b]) - logits[b][label[b]].
  virtual void SparseSoftmaxCrossEntropyForward(const float* logits, const int32_t* labels,
                                                float* losses, int64_t batch, int64_t classes) = 0;
  // dlogits = (softmax(logits) - onehot(labels)) * grad_scale.
  virtual void SparseSoftmaxCrossEntropyBackward(const float* logits, const int32_t* labels,
                                                 float grad_scale, float* dlogits, int64_t batch,
                                                 int64_t classes) = 0;
  // The same with one-hot (or soft) float labels (batch, classes).
  virtual void SoftmaxCrossEntropyForward(const float* logits, const float* labels, float* losses,
                                          int64_t batch, int64_t classes) = 0;
  virtual void SoftmaxCrossEntropyBackward(const float* logits, const float* labels,
                                           float grad_scale, float* dlogits, int64_t batch,
                                           int64_t classes) = 0;
  // Mean squared error over the last dim: losses[b] = mean_j (pred - target)^2.
  virtual void MeanSquaredErrorForward(const float* pred, const float* target, float* losses,
                                       int64_t batch, int64_t dim) = 0;
  // dpred = 2 (pred - target) / dim * grad_scale.
  virtual void MeanSquaredErrorBackward(const float* pred, const float* target, float grad_scale,
                                        float* dpred, int64_t batch, int64_t dim) = 0;
  // Keras binary cross-entropy over the last dim, targets in [0, 1]:
  // losses[b] = mean_j l(output, target). From logits x:
  // l = max(x, 0) - x t + log1p(exp(-|x|)); from probabilities p:
  // l = -(t log p' + (1 - t) log(1 - p')), p' = clip(p, 1e-7, 1 - 1e-7).
  virtual void BinaryCrossEntropyForward(const float* output, const float* target,
                                         bool from_logits, float* losses, int64_t batch,
                                         int64_t dim) = 0;
  // doutput = dl/doutput / dim * grad_scale: from logits (sigmoid(x) - t); from
  // probabilities (1 - t) / (1 - p) - t / p inside the clip range, 0 outside.
  virtual void BinaryCrossEntropyBackward(const float* output, const float* target,
                                          bool from_logits, float grad_scale, float* doutput,
                                          int64_t batch, int64_t dim) = 0;
  // x (rows, cols): row r *= row_scale[r] (per-example loss weights), in place.
  virtual void ScaleRows(float* x, const float* row_scale, int64_t rows, int64_t cols) = 0;
  // Number of rows whose argmax (first maximum) equals the label.
  virtual int64_t SparseAccuracyCount(const float* logits, const int32_t* labels, int64_t batch,
                                      int64_t classes) = 0;

  // --- Optimizers: one call over a whole flat parameter buffer ------------------
  virtual void AdamUpdate(const AdamParams& params, float* weights, const float* grads, float* m,
                          float* v, int64_t n) = 0;
  // velocity may be null when momentum == 0.
  virtual void SgdUpdate(const SgdParams& params, float* weights, const float* grads,
                         float* velocity, int64_t n) = 0;
  // momentum_slot may be null when params.momentum == 0.
  virtual void RmspropUpdate(const RmspropParams& params, float* weights, const float* grads,
                             float* mean_square, float* momentum_slot, int64_t n) = 0;

  // --- Initializers -------------------------------------------------------------
  // Keras glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out));
  // element i draws BitsToUniform(PhiloxBits(seed, 0, stream, i)).
  virtual void GlorotUniform(uint64_t seed, uint32_t stream, float* w, int64_t fan_in,
                             int64_t fan_out) = 0;
  // The same limit over n elements (a conv kernel: n = kh kw in out, fan_in =
  // kh kw in, fan_out = kh kw out, as Keras computes them).
  virtual void GlorotUniformN(uint64_t seed, uint32_t stream, float* w, int64_t n, int64_t fan_in,
                              int64_t fan_out) = 0;
  virtual void Fill(float* x, float value, int64_t n) = 0;
};

// The 24-bit threshold below which a dropout element is dropped.
inline uint32_t DropoutThreshold(float rate) {
  return static_cast<uint32_t>(static_cast<double>(rate) * 16777216.0);
}

// The CPU backend (OpenBLAS sgemm + OpenMP loops).
std::unique_ptr<KernelBackend> CreateCpuBackend();
// One CPU backend for the whole process, never destroyed, for host-only users
// that need backend memory (a store or optimizer made without a backend,
// weight conversion, tests): what it allocates may outlive any caller. Its
// allocations are thread-safe; its ops, like any backend's, are not.
KernelBackend& SharedCpuBackend();

// CreateBackend(Device), which can construct the CUDA backend, is in
// kernels/backend_factory.h.

}  // namespace shardtrain::kernels
