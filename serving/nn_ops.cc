#include "serving/nn_ops.h"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "serving/staged_call.h"

namespace shardtrain::serving {
namespace {

// Bounds on what one node may allocate (floats) and compute (multiply-adds),
// so a hostile graph or request fails cleanly instead of exhausting the host.
constexpr int64_t kMaxOutputElements = int64_t{1} << 28;
constexpr int64_t kMaxWork = int64_t{1} << 38;

const tf::AttrValue* Attr(const tf::NodeDef& node, const char* name) {
  auto found = node.attr().find(name);
  return found == node.attr().end() ? nullptr : &found->second;
}

// Whether the product of `factors` (each >= 0) stays within `limit`.
bool WithinLimit(std::initializer_list<int64_t> factors, int64_t limit) {
  int64_t product = 1;
  for (int64_t f : factors) {
    if (f < 0 || __builtin_mul_overflow(product, f, &product) || product > limit) return false;
  }
  return true;
}

std::string ListText(const tf::AttrValue& value) {
  std::vector<int64_t> values(value.list().i().begin(), value.list().i().end());
  return ShapeText(values);
}

// A float32 tensor of `rank` (any when < 0) whose data matches its shape.
// A shape whose element count overflows int64 is refused before the data
// size is compared with it (a wrapped count could match empty data).
Status CheckFloat(const Tensor& t, const char* what, int rank) {
  int64_t elements = 1;
  for (int64_t d : t.shape) {
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements)) {
      return InvalidArgumentError(std::string(what) + " has shape " + t.ShapeString());
    }
  }
  if (t.dtype != DType::kFloat32 || t.f.size() != static_cast<size_t>(t.num_elements())) {
    return InvalidArgumentError(std::string(what) + " must be float32");
  }
  if (rank >= 0 && t.shape.size() != static_cast<size_t>(rank)) {
    return InvalidArgumentError(std::string(what) + " must have rank " + std::to_string(rank) +
                                ", got " + t.ShapeString());
  }
  return OkStatus();
}

// Type attrs (T, U) may be absent (stripped defaults) or float.
Status CheckFloatAttr(const tf::NodeDef& node, const char* name) {
  const tf::AttrValue* type = Attr(node, name);
  if (type == nullptr || type->type() == tf::DT_FLOAT) return OkStatus();
  return UnimplementedError(std::string("attr ") + name + " = " + std::to_string(type->type()) +
                            ": only float32 (DT_FLOAT) is supported");
}

Status CheckNhwc(const tf::NodeDef& node) {
  const tf::AttrValue* format = Attr(node, "data_format");
  if (format == nullptr || format->s() == "NHWC") return OkStatus();
  return UnimplementedError("data_format '" + format->s() + "' is not supported (only NHWC)");
}

// A 4-int list attr [1, h, w, 1] (strides, ksize) -> {h, w}, each > 0.
StatusOr<std::pair<int64_t, int64_t>> SpatialAttr(const tf::NodeDef& node, const char* name) {
  const tf::AttrValue* value = Attr(node, name);
  if (value == nullptr) return InvalidArgumentError(std::string("attr ") + name + " is missing");
  const auto& v = value->list().i();
  if (v.size() != 4 || v[0] != 1 || v[3] != 1 || v[1] <= 0 || v[2] <= 0) {
    return InvalidArgumentError(std::string("attr ") + name + " = " + ListText(*value) +
                                " must be [1, h, w, 1] with h, w > 0");
  }
  return std::make_pair(static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2]));
}

// padding "SAME" -> true, "VALID" -> false.
StatusOr<bool> SamePadding(const tf::NodeDef& node) {
  const tf::AttrValue* padding = Attr(node, "padding");
  if (padding == nullptr) return InvalidArgumentError("attr padding is missing");
  if (padding->s() == "SAME") return true;
  if (padding->s() == "VALID") return false;
  if (padding->s() == "EXPLICIT") return UnimplementedError("padding EXPLICIT is not supported");
  return InvalidArgumentError("padding '" + padding->s() + "' must be SAME or VALID");
}

// Fills g's window geometry for input x [n, h, w, c] from the node's strides
// and padding and the given window; checks the output and work bounds
// (`work_per_output` multiply-adds per output element).
Status WindowFromAttrs(const tf::NodeDef& node, const Tensor& x, int64_t window_h, int64_t window_w,
                       int64_t out_c, int64_t work_per_output, kernels::Conv2DGeometry* g) {
  RETURN_IF_ERROR(CheckFloatAttr(node, "T"));
  RETURN_IF_ERROR(CheckNhwc(node));
  ASSIGN_OR_RETURN(auto strides, SpatialAttr(node, "strides"));
  ASSIGN_OR_RETURN(const bool same, SamePadding(node));
  g->batch = x.shape[0];
  g->in_h = x.shape[1];
  g->in_w = x.shape[2];
  g->in_c = x.shape[3];
  g->out_c = out_c;
  g->window_h = window_h;
  g->window_w = window_w;
  g->stride_h = strides.first;
  g->stride_w = strides.second;
  if (g->in_c <= 0 || !kernels::WindowGeometry(same, g)) {
    return InvalidArgumentError("window [" + std::to_string(window_h) + ", " +
                                std::to_string(window_w) + "] leaves no output of input " +
                                x.ShapeString());
  }
  if (!WithinLimit({g->batch, g->out_h, g->out_w, g->out_c}, kMaxOutputElements) ||
      !WithinLimit({g->batch, g->out_h, g->out_w, g->out_c, work_per_output}, kMaxWork)) {
    return InvalidArgumentError("output [" + std::to_string(g->batch) + ", " +
                                std::to_string(g->out_h) + ", " + std::to_string(g->out_w) + ", " +
                                std::to_string(g->out_c) + "] of input " + x.ShapeString() +
                                " is larger than the runtime allows");
  }
  return OkStatus();
}

Status CheckConvAttrs(const tf::NodeDef& node) {
  if (const tf::AttrValue* dilations = Attr(node, "dilations")) {
    const auto& d = dilations->list().i();
    if (d.size() != 4 || d[0] != 1 || d[1] != 1 || d[2] != 1 || d[3] != 1) {
      return UnimplementedError("dilations " + ListText(*dilations) +
                                " are not supported (only [1, 1, 1, 1])");
    }
  }
  const tf::AttrValue* explicit_paddings = Attr(node, "explicit_paddings");
  if (explicit_paddings != nullptr && explicit_paddings->list().i_size() > 0) {
    return UnimplementedError("explicit_paddings are not supported");
  }
  return OkStatus();
}

// An integer tensor's values (int32/int64 are both held in Tensor::i).
StatusOr<std::vector<int64_t>> IntValues(const Tensor& t, const char* what) {
  if ((t.dtype != DType::kInt32 && t.dtype != DType::kInt64) ||
      t.i.size() != static_cast<size_t>(t.num_elements())) {
    return InvalidArgumentError(std::string(what) + " must be an int32 or int64 tensor");
  }
  return t.i;
}

}  // namespace

StatusOr<Tensor> Conv2DOp(const tf::NodeDef& node, const Tensor& input, const Tensor& filter,
                          kernels::KernelBackend& backend) {
  RETURN_IF_ERROR(CheckFloat(input, "input", 4));
  RETURN_IF_ERROR(CheckFloat(filter, "filter", 4));
  RETURN_IF_ERROR(CheckConvAttrs(node));
  if (filter.shape[2] != input.shape[3] || filter.shape[3] <= 0) {
    return InvalidArgumentError("filter " + filter.ShapeString() + " does not fit input " +
                                input.ShapeString() + " (filter in_channels must equal its depth)");
  }
  kernels::Conv2DGeometry g;
  RETURN_IF_ERROR(WindowFromAttrs(node, input, filter.shape[0], filter.shape[1], filter.shape[3],
                                  filter.shape[0] * filter.shape[1] * filter.shape[2], &g));
  Tensor y = Tensor::Floats({g.batch, g.out_h, g.out_w, g.out_c});
  StagedCall call(backend);
  ASSIGN_OR_RETURN(const float* x, call.In(input.f.data(), input.num_elements(), "input"));
  ASSIGN_OR_RETURN(const float* w, call.In(filter.f.data(), filter.num_elements(), "filter"));
  ASSIGN_OR_RETURN(float* out, call.Out(y.f.data(), y.num_elements(), "output"));
  backend.Conv2DForward(g, x, w, nullptr, out);
  RETURN_IF_ERROR(call.Finish());
  return y;
}

StatusOr<Tensor> PoolOp(const tf::NodeDef& node, const Tensor& input,
                        kernels::KernelBackend& backend) {
  RETURN_IF_ERROR(CheckFloat(input, "input", 4));
  ASSIGN_OR_RETURN(auto ksize, SpatialAttr(node, "ksize"));
  if (!WithinLimit({ksize.first, ksize.second}, kMaxWork)) {
    return InvalidArgumentError("ksize is larger than the runtime allows");
  }
  kernels::Conv2DGeometry g;
  RETURN_IF_ERROR(WindowFromAttrs(node, input, ksize.first, ksize.second, input.shape[3],
                                  ksize.first * ksize.second, &g));
  Tensor y = Tensor::Floats({g.batch, g.out_h, g.out_w, g.out_c});
  StagedCall call(backend);
  ASSIGN_OR_RETURN(const float* x, call.In(input.f.data(), input.num_elements(), "input"));
  ASSIGN_OR_RETURN(float* out, call.Out(y.f.data(), y.num_elements(), "output"));
  if (node.op() == "MaxPool") {
    backend.MaxPool2DForward(g, x, out);
  } else {
    backend.AvgPool2DForward(g, x, out);
  }
  RETURN_IF_ERROR(call.Finish());
  return y;
}

StatusOr<Tensor> MeanOp(const tf::NodeDef& node, const Tensor& input, const Tensor& axes,
                        kernels::KernelBackend& backend) {
  RETURN_IF_ERROR(CheckFloatAttr(node, "T"));
  RETURN_IF_ERROR(CheckFloat(input, "input", 4));
  ASSIGN_OR_RETURN(std::vector<int64_t> dims, IntValues(axes, "reduction_indices"));
  for (int64_t& d : dims) d = d < 0 ? d + 4 : d;
  std::sort(dims.begin(), dims.end());
  if (dims != std::vector<int64_t>{1, 2}) {
    return UnimplementedError("Mean over axes " + ShapeText(axes.i) +
                              " is not supported (only [1, 2] of a 4-D tensor)");
  }
  kernels::Conv2DGeometry g;
  g.batch = input.shape[0];
  g.in_h = g.window_h = input.shape[1];
  g.in_w = g.window_w = input.shape[2];
  g.in_c = g.out_c = input.shape[3];
  if (g.in_c <= 0 || !kernels::WindowGeometry(false, &g)) {
    return InvalidArgumentError("cannot average an empty input " + input.ShapeString());
  }
  const tf::AttrValue* keep_dims = Attr(node, "keep_dims");
  Tensor y = keep_dims != nullptr && keep_dims->b() ? Tensor::Floats({g.batch, 1, 1, g.in_c})
                                                    : Tensor::Floats({g.batch, g.in_c});
  StagedCall call(backend);
  ASSIGN_OR_RETURN(const float* x, call.In(input.f.data(), input.num_elements(), "input"));
  ASSIGN_OR_RETURN(float* out, call.Out(y.f.data(), y.num_elements(), "output"));
  backend.AvgPool2DForward(g, x, out);
  RETURN_IF_ERROR(call.Finish());
  return y;
}

StatusOr<std::vector<Tensor>> FusedBatchNormOp(const tf::NodeDef& node, const Tensor& x,
                                               const Tensor& scale, const Tensor& offset,
                                               const Tensor& mean, const Tensor& variance,
                                               kernels::KernelBackend& backend) {
  const tf::AttrValue* is_training = Attr(node, "is_training");
  if (is_training == nullptr || is_training->b()) {
    return UnimplementedError(
        "is_training=true (batch statistics) is not supported; export the "
        "model in inference form (is_training=false)");
  }
  RETURN_IF_ERROR(CheckFloatAttr(node, "T"));
  RETURN_IF_ERROR(CheckFloatAttr(node, "U"));
  RETURN_IF_ERROR(CheckNhwc(node));
  RETURN_IF_ERROR(CheckFloat(x, "x", 4));
  const int64_t channels = x.shape[3];
  const char* names[] = {"scale", "offset", "mean", "variance"};
  const Tensor* vectors[] = {&scale, &offset, &mean, &variance};
  for (int k = 0; k < 4; ++k) {
    RETURN_IF_ERROR(CheckFloat(*vectors[k], names[k], 1));
    if (vectors[k]->shape[0] != channels) {
      return InvalidArgumentError(std::string(names[k]) + " " + vectors[k]->ShapeString() +
                                  " must have the " + std::to_string(channels) + " channels of x " +
                                  x.ShapeString());
    }
  }
  const tf::AttrValue* epsilon_attr = Attr(node, "epsilon");
  const float epsilon = epsilon_attr != nullptr ? epsilon_attr->f() : 0.0001f;  // TF's default
  if (!(epsilon >= 0.0f)) return InvalidArgumentError("epsilon must be >= 0");
  Tensor y = Tensor::Floats(x.shape);
  const int64_t rows = channels == 0 ? 0 : x.num_elements() / channels;
  StagedCall call(backend);
  const float* staged[5];  // x, scale, offset, mean, variance as the backend reads them
  const Tensor* sources[5] = {&x, &scale, &offset, &mean, &variance};
  const char* what[5] = {"x", "scale", "offset", "mean", "variance"};
  for (int k = 0; k < 5; ++k) {
    ASSIGN_OR_RETURN(staged[k], call.In(sources[k]->f.data(), sources[k]->num_elements(), what[k]));
  }
  ASSIGN_OR_RETURN(float* out, call.Out(y.f.data(), y.num_elements(), "y"));
  backend.BatchNormForward(staged[0], staged[3], staged[4], staged[1], staged[2], epsilon, out,
                           rows, channels);
  RETURN_IF_ERROR(call.Finish());
  return std::vector<Tensor>{std::move(y), mean, variance, mean, variance, Tensor::Floats({0})};
}

StatusOr<Tensor> ConcatV2Op(const tf::NodeDef& node, const std::vector<const Tensor*>& values,
                            const Tensor& axis_tensor, kernels::KernelBackend& backend) {
  RETURN_IF_ERROR(CheckFloatAttr(node, "T"));
  const tf::AttrValue* n = Attr(node, "N");
  if (values.empty() || (n != nullptr && n->i() != static_cast<int64_t>(values.size()))) {
    return InvalidArgumentError("attr N does not match the " + std::to_string(values.size()) +
                                " values");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> axis_values, IntValues(axis_tensor, "axis"));
  RETURN_IF_ERROR(CheckFloat(*values[0], "values[0]", -1));
  const std::vector<int64_t>& first = values[0]->shape;
  const int64_t rank = static_cast<int64_t>(first.size());
  if (axis_values.size() != 1 || axis_values[0] < -rank || axis_values[0] >= rank) {
    return InvalidArgumentError("axis " + ShapeText(axis_values) + " is not one axis of rank " +
                                std::to_string(rank));
  }
  const size_t axis =
      static_cast<size_t>(axis_values[0] < 0 ? axis_values[0] + rank : axis_values[0]);
  std::vector<int64_t> out_shape = first;
  out_shape[axis] = 0;
  for (size_t k = 0; k < values.size(); ++k) {
    const Tensor& v = *values[k];
    RETURN_IF_ERROR(CheckFloat(v, "values", static_cast<int>(rank)));
    for (size_t d = 0; d < first.size(); ++d) {
      if (d != axis && v.shape[d] != first[d]) {
        return InvalidArgumentError("values " + v.ShapeString() + " and " + ShapeText(first) +
                                    " differ off axis " + std::to_string(axis));
      }
    }
    out_shape[axis] += v.shape[axis];
  }
  if (!WithinLimit({NumElements(out_shape)}, kMaxOutputElements)) {
    return InvalidArgumentError("output " + ShapeText(out_shape) + " is too large");
  }
  Tensor y = Tensor::Floats(out_shape);
  int64_t rows = 1, inner = 1;  // rows: dims before the axis; inner: dims after it
  for (size_t d = 0; d < axis; ++d) rows *= first[d];
  for (size_t d = axis + 1; d < first.size(); ++d) inner *= first[d];
  const int64_t dst_cols = out_shape[axis] * inner;
  StagedCall call(backend);
  // The values cover every column of y, so y need not start from its zeros.
  ASSIGN_OR_RETURN(float* out, call.Out(y.f.data(), y.num_elements(), "output"));
  int64_t offset = 0;
  for (const Tensor* v : values) {
    const int64_t cols = v->shape[axis] * inner;
    if (rows > 0 && cols > 0) {
      ASSIGN_OR_RETURN(const float* src, call.In(v->f.data(), v->num_elements(), "values"));
      backend.CopyColumnsInto(src, rows, cols, out, dst_cols, offset);
    }
    offset += cols;
  }
  RETURN_IF_ERROR(call.Finish());
  return y;
}

}  // namespace shardtrain::serving
