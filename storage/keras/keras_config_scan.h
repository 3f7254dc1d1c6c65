// What the Keras file readers take from a model config JSON (Keras 2 or 3
// form): the frozen layers, each layer's class, and the layers a Keras 3
// weights file walks (Sequential without its InputLayer, Functional with
// it) with the config flags that decide a layer's weights. Malformed or
// unexpected JSON gives empty results: the weights then read as their files
// name them. Internal to storage/keras; pure functions.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "storage/keras/keras_files.h"
#include "storage/keras/keras_weight_names.h"

namespace shardtrain::storage::keras {

// A layer of a Keras 3 config walk: its name, class and weight options.
struct WalkedLayer {
  std::string name;
  std::string class_name;
  KerasLayerOptions options;
};

// Names of the layers a model config JSON freezes ("trainable": false on the
// layer, or on the whole model).
std::set<std::string> FrozenLayers(const std::string& config_json);

// Sets each layer's trainable flag: false for the `frozen` ones.
void MarkFrozen(const std::set<std::string>& frozen, std::vector<KerasLayerWeights>* layers);

// Layer name -> class name, for the layers the config lists.
std::map<std::string, std::string> ClassesFromConfig(const std::string& config_json);

// The layers a Keras 3 config walks, in order: Sequential without its
// InputLayer, Functional with it.
std::vector<WalkedLayer> Keras3Walk(const std::string& config_json);

}  // namespace shardtrain::storage::keras
