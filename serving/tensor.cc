#include "serving/tensor.h"

#include <cstring>

namespace shardtrain::serving {

int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Tensor::Floats(std::vector<int64_t> shape) {
  Tensor t;
  t.dtype = DType::kFloat32;
  t.f.assign(static_cast<size_t>(NumElements(shape)), 0.0f);
  t.shape = std::move(shape);
  return t;
}

Tensor Tensor::Scalar(float value) {
  Tensor t;
  t.f = {value};
  return t;
}

Tensor Tensor::String(std::string value) {
  Tensor t;
  t.dtype = DType::kString;
  t.s = {std::move(value)};
  return t;
}

int64_t Tensor::num_elements() const { return NumElements(shape); }

size_t Tensor::stored() const {
  switch (dtype) {
    case DType::kFloat32: return f.size();
    case DType::kFloat64: return d.size();
    case DType::kString: return s.size();
    default: return i.size();
  }
}

std::string Tensor::ShapeString() const { return ShapeText(shape); }

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t k = 0; k < shape.size(); ++k) out += (k ? ", " : "") + std::to_string(shape[k]);
  return out + "]";
}

namespace {

template <typename T, typename Field>
void Fill(const Field& field, int64_t n, std::vector<T>* out) {
  out->assign(static_cast<size_t>(n), T{});
  if (field.empty()) return;
  for (int64_t k = 0; k < n; ++k) {
    (*out)[static_cast<size_t>(k)] =
        static_cast<T>(field[static_cast<int>(std::min<int64_t>(k, field.size() - 1))]);
  }
}

template <typename Stored, typename T>
Status FromContent(const std::string& content, int64_t n, std::vector<T>* out) {
  if (content.size() != static_cast<size_t>(n) * sizeof(Stored)) {
    return InvalidArgumentError("tensor_content has " + std::to_string(content.size()) +
                                " bytes for " + std::to_string(n) + " elements");
  }
  out->resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    Stored v;
    std::memcpy(&v, content.data() + k * sizeof(Stored), sizeof(Stored));
    (*out)[static_cast<size_t>(k)] = static_cast<T>(v);
  }
  return OkStatus();
}

}  // namespace

StatusOr<Tensor> TensorFromProto(const tf::TensorProto& proto) {
  Tensor t;
  t.dtype = static_cast<DType>(proto.dtype());
  for (const auto& dim : proto.tensor_shape().dim()) {
    if (dim.size() < 0) return InvalidArgumentError("a constant tensor has an unknown dimension");
    t.shape.push_back(dim.size());
  }
  const int64_t n = t.num_elements();
  if (n > (int64_t{1} << 31)) return InvalidArgumentError("constant tensor too large");
  const std::string& content = proto.tensor_content();
  const bool raw = !content.empty();
  switch (t.dtype) {
    case DType::kFloat32:
      if (raw) {
        RETURN_IF_ERROR(FromContent<float>(content, n, &t.f));
      } else {
        Fill(proto.float_val(), n, &t.f);
      }
      return t;
    case DType::kFloat64:
      if (raw) {
        RETURN_IF_ERROR(FromContent<double>(content, n, &t.d));
      } else {
        Fill(proto.double_val(), n, &t.d);
      }
      return t;
    case DType::kInt32:
      if (raw) {
        RETURN_IF_ERROR(FromContent<int32_t>(content, n, &t.i));
      } else {
        Fill(proto.int_val(), n, &t.i);
      }
      return t;
    case DType::kInt64:
      if (raw) {
        RETURN_IF_ERROR(FromContent<int64_t>(content, n, &t.i));
      } else {
        Fill(proto.int64_val(), n, &t.i);
      }
      return t;
    case DType::kBool:
      if (raw) {
        RETURN_IF_ERROR(FromContent<uint8_t>(content, n, &t.i));
      } else {
        Fill(proto.bool_val(), n, &t.i);
      }
      return t;
    case DType::kString: {
      t.s.assign(static_cast<size_t>(n), std::string());
      for (int64_t k = 0; k < n && proto.string_val_size() > 0; ++k) {
        t.s[static_cast<size_t>(k)] =
            proto.string_val(static_cast<int>(std::min<int64_t>(k, proto.string_val_size() - 1)));
      }
      return t;
    }
    default:
      return UnimplementedError("constant of dtype " + std::to_string(proto.dtype()) +
                                " is not supported by the serving runtime");
  }
}

}  // namespace shardtrain::serving
