// ParameterStore: every variable of a model (trainable or frozen) in one
// contiguous float buffer, with the gradients in a second buffer of the same layout
// (DESIGN.md §3). Allreduce and checkpoint I/O work on the whole span; layers
// and optimizers see per-variable views. Variables are added first, then the
// buffers are allocated once by Finalize(). The gradients may then be moved
// into memory the caller provides (UseGradientStorage: e.g. a communicator's
// shared-memory window, which its allreduce sums without copying). Not
// thread-safe.
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
  bool trainable = true;
  // In floats, into the trainable variables alone laid out in order (the
  // layout of optimizer slots); -1 for a frozen variable.
  int64_t trainable_offset = -1;
};

// A run of floats of params()/grads(): [offset, offset + size).
struct ParameterSpan {
  int64_t offset = 0;
  int64_t size = 0;
};

class ParameterStore {
 public:
  ParameterStore() = default;
  // Not copyable (grads() may point into the store's own buffer); movable.
  ParameterStore(const ParameterStore&) = delete;
  ParameterStore& operator=(const ParameterStore&) = delete;
  ParameterStore(ParameterStore&&) = default;
  ParameterStore& operator=(ParameterStore&&) = default;

  // Registers a variable and returns its index. Must precede Finalize().
  int AddVariable(std::string name, Shape shape, bool trainable = true);
  // Allocates zeroed parameter and gradient buffers.
  void Finalize();
  // After Finalize(): copies the gradients into `storage` (size() floats, not
  // owned, must stay valid while the store uses it) and uses it from then on
  // instead of the store's own buffer, which is released. Null: no change.
  void UseGradientStorage(float* storage);

  int num_variables() const { return static_cast<int>(variables_.size()); }
  const VariableInfo& variable(int index) const { return variables_[static_cast<size_t>(index)]; }
  const std::vector<VariableInfo>& variables() const { return variables_; }
  // Total number of floats over all variables.
  int64_t size() const { return size_; }
  // Floats over the trainable variables only.
  int64_t trainable_size() const { return trainable_size_; }
  // The trainable variables' floats as maximal contiguous spans, in order: one
  // span [0, size()) when every variable trains.
  std::vector<ParameterSpan> TrainableSpans() const;

  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_data_; }
  const float* grads() const { return grads_data_; }
  float* param(int index) { return params_.data() + variable(index).offset; }
  float* grad(int index) { return grads_data_ + variable(index).offset; }
  TensorView ParamView(int index) {
    return TensorView::Of(param(index), variable(index).shape);
  }

 private:
  std::vector<VariableInfo> variables_;
  int64_t size_ = 0;
  int64_t trainable_size_ = 0;
  std::vector<float> params_;
  std::vector<float> grads_;     // own gradient memory, unless external storage is used
  float* grads_data_ = nullptr;  // grads_.data() or the external storage
};

}  // namespace shardtrain::model
