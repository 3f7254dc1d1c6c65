// ParameterStore: every trainable variable of a model in one contiguous float
// buffer, with the gradients in a second buffer of the same layout
// (DESIGN.md §3). Allreduce and checkpoint I/O work on the whole span; layers
// and optimizers see per-variable views. Variables are added first, then the
// buffers are allocated once by Finalize(). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/shape.h"
#include "common/tensor_view.h"

namespace shardtrain::model {

struct VariableInfo {
  std::string name;    // Keras-style path, e.g. "dense/kernel"
  Shape shape;
  int64_t offset = 0;  // in floats, into params() and grads()
};

class ParameterStore {
 public:
  // Registers a variable and returns its index. Must precede Finalize().
  int AddVariable(std::string name, Shape shape);
  // Allocates zeroed parameter and gradient buffers.
  void Finalize();

  int num_variables() const { return static_cast<int>(variables_.size()); }
  const VariableInfo& variable(int index) const { return variables_[static_cast<size_t>(index)]; }
  const std::vector<VariableInfo>& variables() const { return variables_; }
  // Total number of floats over all variables.
  int64_t size() const { return size_; }

  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }
  float* param(int index) { return params_.data() + variable(index).offset; }
  float* grad(int index) { return grads_.data() + variable(index).offset; }
  TensorView ParamView(int index) {
    return TensorView::Of(param(index), variable(index).shape);
  }

 private:
  std::vector<VariableInfo> variables_;
  int64_t size_ = 0;
  std::vector<float> params_;
  std::vector<float> grads_;
};

}  // namespace shardtrain::model
