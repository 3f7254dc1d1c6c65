#include "storage/keras/keras_weight_names.h"

#include <cctype>

#include "storage/keras/keras_files.h"

namespace shardtrain::storage::keras {
namespace {

constexpr const char* kNamedClasses[] = {"Dense", "Conv2D", "BatchNormalization"};

bool IsMovingStatistic(const std::string& name) {
  return name == "moving_mean" || name == "moving_variance";
}

std::vector<std::string> ExpectedNames(const std::string& class_name, size_t count,
                                       const KerasLayerOptions& options) {
  if (class_name == "Dense" || class_name == "Conv2D") {
    if (count == 1) return {"kernel"};
    return {"kernel", "bias"};
  }
  if (class_name == "BatchNormalization") {
    std::vector<std::string> names;
    if (options.scale) names.push_back("gamma");
    if (options.center) names.push_back("beta");
    names.insert(names.end(), {"moving_mean", "moving_variance"});
    return names;
  }
  return {};
}

}  // namespace

std::vector<KerasWeightName> KerasWeightNames(const std::string& class_name, size_t count,
                                              const KerasLayerOptions& options) {
  const std::vector<std::string> expected = ExpectedNames(class_name, count, options);
  std::vector<KerasWeightName> out;
  for (size_t i = 0; i < count; ++i) {
    KerasWeightName weight;
    weight.name = expected.size() == count ? expected[i] : std::to_string(i);
    weight.trainable = !IsMovingStatistic(weight.name);
    if (class_name == "BatchNormalization" && i + 2 >= count) weight.trainable = false;
    out.push_back(std::move(weight));
  }
  return out;
}

bool IsTrainableWeightName(const std::string& short_name) {
  return !IsMovingStatistic(short_name);
}

std::string ClassOfKeras3LayerPath(const std::string& path) {
  std::string base = path;
  const size_t underscore = base.rfind('_');
  if (underscore != std::string::npos && underscore + 1 < base.size() &&
      std::isdigit(static_cast<unsigned char>(base[underscore + 1]))) {
    bool digits = true;
    for (size_t i = underscore + 1; i < base.size(); ++i) {
      digits = digits && std::isdigit(static_cast<unsigned char>(base[i]));
    }
    if (digits) base.resize(underscore);
  }
  for (const char* class_name : kNamedClasses) {
    if (KerasSnakeCase(class_name) == base) return class_name;
  }
  return "";
}

}  // namespace shardtrain::storage::keras
