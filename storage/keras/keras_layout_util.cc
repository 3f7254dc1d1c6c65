#include "storage/keras/keras_layout_util.h"

namespace shardtrain::storage::keras {

std::vector<const KerasWeight*> TrainableWeights(const KerasModelFile& model) {
  std::vector<const KerasWeight*> out;
  for (const auto& layer : model.layers) {
    if (!layer.trainable) continue;
    for (const auto& weight : layer.weights) {
      if (weight.trainable) out.push_back(&weight);
    }
  }
  return out;
}

StatusOr<std::string> OptionalString(const H5File& file, const std::string& object_path,
                                     const std::string& name, const std::string& fallback) {
  auto value = file.ReadStringAttribute(object_path, name);
  if (value.ok() || value.status().code() == StatusCode::kDataLoss) return value;
  return fallback;
}

}  // namespace shardtrain::storage::keras
