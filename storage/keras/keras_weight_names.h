// Keras's names and trainability of one layer's weights, in Keras order
// (trainable variables first, then the non-trainable ones, as Keras's
// `layer.weights` and the Keras 3 `vars/<i>` numbering list them):
//   Dense, Conv2D: kernel, bias (no bias with use_bias false);
//   BatchNormalization: gamma (absent with scale false), beta (absent with
//   center false), moving_mean, moving_variance (not trainable: no optimizer
//   state).
// The Keras 3 layout stores weights by index only, so its readers name them
// here; legacy files store names, whose trainability comes from here too.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace shardtrain::storage::keras {

// What a layer's config says about its weights (Keras defaults when absent).
struct KerasLayerOptions {
  bool center = true;  // BatchNormalization: has beta
  bool scale = true;   // BatchNormalization: has gamma
};

struct KerasWeightName {
  std::string name;  // "kernel", "gamma", "moving_mean"; the index ("0") when unknown
  bool trainable = true;
};

// The `count` weights of a `class_name` layer. A class we do not know, or a
// count that does not fit the class and options, gets index names; a
// BatchNormalization's last two weights are its moving statistics either way.
std::vector<KerasWeightName> KerasWeightNames(const std::string& class_name, size_t count,
                                              const KerasLayerOptions& options);

// Whether a weight of this short name ("moving_mean" is not) has optimizer state.
bool IsTrainableWeightName(const std::string& short_name);

// The class of a Keras 3 layer path ("batch_normalization_2" → "BatchNormalization")
// among the classes whose weights we name; "" for any other.
std::string ClassOfKeras3LayerPath(const std::string& path);

}  // namespace shardtrain::storage::keras
