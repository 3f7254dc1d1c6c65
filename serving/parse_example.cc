#include "serving/parse_example.h"

#include "proto/tf/example.pb.h"

namespace shardtrain::serving {
namespace {

std::string Where(size_t index, const std::string& key) {
  return "example " + std::to_string(index) + ", feature '" + key + "'";
}

// Appends `feature`'s values to `out` (of `spec`'s dtype), checking its list
// type and value count.
Status AppendFeature(const tf::Feature& feature, const DenseFeatureSpec& spec, size_t index,
                     Tensor* out) {
  const int64_t want = NumElements(spec.shape);
  int64_t got = 0;
  const char* expected = "float_list";
  if (spec.dtype == DType::kFloat32 && feature.has_float_list()) {
    got = feature.float_list().value_size();
    out->f.insert(out->f.end(), feature.float_list().value().begin(),
                  feature.float_list().value().end());
  } else if (spec.dtype == DType::kInt64 && feature.has_int64_list()) {
    got = feature.int64_list().value_size();
    out->i.insert(out->i.end(), feature.int64_list().value().begin(),
                  feature.int64_list().value().end());
  } else if (spec.dtype == DType::kString && feature.has_bytes_list()) {
    got = feature.bytes_list().value_size();
    out->s.insert(out->s.end(), feature.bytes_list().value().begin(),
                  feature.bytes_list().value().end());
  } else {
    if (spec.dtype == DType::kInt64) expected = "int64_list";
    if (spec.dtype == DType::kString) expected = "bytes_list";
    return InvalidArgumentError(Where(index, spec.key) + ": expected a " + expected + " (" +
                                std::string(DTypeName(spec.dtype)) + ")");
  }
  if (got != want) {
    return InvalidArgumentError(Where(index, spec.key) + ": " + std::to_string(got) +
                                " values, but the dense shape needs " + std::to_string(want));
  }
  return OkStatus();
}

// Appends `spec`'s default (or fails: the feature is required).
Status AppendDefault(const DenseFeatureSpec& spec, size_t index, Tensor* out) {
  const Tensor& d = spec.default_value;
  if (d.num_elements() == 0) {
    return InvalidArgumentError(Where(index, spec.key) + " is required but could not be found");
  }
  const int64_t want = NumElements(spec.shape);
  for (int64_t k = 0; k < want; ++k) {
    const size_t from = d.num_elements() == 1 ? 0 : static_cast<size_t>(k);
    if (spec.dtype == DType::kFloat32) out->f.push_back(d.f.at(from));
    if (spec.dtype == DType::kInt64) out->i.push_back(d.i.at(from));
    if (spec.dtype == DType::kString) out->s.push_back(d.s.at(from));
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<Tensor>> ParseDenseExamples(const std::vector<std::string>& serialized,
                                                 const std::vector<DenseFeatureSpec>& specs) {
  std::vector<Tensor> out(specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    if (specs[k].dtype != DType::kFloat32 && specs[k].dtype != DType::kInt64 &&
        specs[k].dtype != DType::kString) {
      return UnimplementedError("ParseExample of '" + specs[k].key + "' as " +
                                std::string(DTypeName(specs[k].dtype)) + " is not supported");
    }
    out[k].dtype = specs[k].dtype;
    out[k].shape = {static_cast<int64_t>(serialized.size())};
    out[k].shape.insert(out[k].shape.end(), specs[k].shape.begin(), specs[k].shape.end());
  }
  for (size_t e = 0; e < serialized.size(); ++e) {
    tf::Example example;
    if (!example.ParseFromString(serialized[e])) {
      return InvalidArgumentError("example " + std::to_string(e) +
                                  " is not a serialized tf.Example");
    }
    const auto& features = example.features().feature();
    for (size_t k = 0; k < specs.size(); ++k) {
      auto found = features.find(specs[k].key);
      RETURN_IF_ERROR(found == features.end() ? AppendDefault(specs[k], e, &out[k])
                                              : AppendFeature(found->second, specs[k], e, &out[k]));
    }
  }
  return out;
}

}  // namespace shardtrain::serving
