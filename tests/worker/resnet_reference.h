// The independent reference of the real Keras ResNet tests (resnet_import_test,
// resnet_export_test): the input resnet_reference.py feeds and the outputs it
// computed (resnet_reference_outputs.txt), and where the file lives.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace shardtrain::resnet_reference {

inline constexpr int64_t kRows = 4;  // INPUT_ROWS of resnet_reference.py
inline constexpr int64_t kClasses = 10;

inline std::string ResNetPath() {
  return std::string(SHARDTRAIN_SHARED_DIR) +
         "/testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5";
}

// The reference script's input: element i of the flat NHWC batch (row = i / example_size)
// is ((i * 37 + 11) % 101) / 50 - 1 + 0.4 * row, computed in double, stored as float.
inline std::vector<float> ReferenceInput(int64_t example_size) {
  std::vector<float> x(static_cast<size_t>(kRows * example_size));
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    const double value =
        static_cast<double>((i * 37 + 11) % 101) / 50.0 - 1.0 + 0.4 * (i / example_size);
    x[static_cast<size_t>(i)] = static_cast<float>(value);
  }
  return x;
}

// Per row: 10 logits, then 10 softmax probabilities ('#' lines are comments).
inline std::vector<std::vector<double>> ReferenceRows() {
  std::ifstream in(std::string(SHARDTRAIN_SOURCE_DIR) +
                   "/tests/worker/resnet_reference_outputs.txt");
  std::vector<std::vector<double>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream numbers(line);
    rows.emplace_back();
    for (double v; numbers >> v;) rows.back().push_back(v);
  }
  return rows;
}

}  // namespace shardtrain::resnet_reference
