// ParameterStore: every variable of a model (trainable or frozen) in one
// contiguous float buffer, with the gradients in a second buffer of the same layout
// (DESIGN.md §3). Allreduce and checkpoint I/O work on the whole span; layers
// and optimizers see per-variable views. Variables are added first, then the
// buffers are allocated once by Finalize(backend) as the backend's device
// memory ("parameters", "gradients"). params()/grads()/param()/grad() are
// device pointers: host code may dereference them only where
// backend.host_reads_device_memory() (the CPU backend, where device memory is
// host memory); elsewhere it uses the Copy*ToHost/Copy*FromHost methods. On a
// host-readable backend the gradients may then be moved into memory the
// caller provides (UseGradientStorage: e.g. a communicator's shared-memory
// window, which its allreduce sums without copying). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/shape.h"
#include "common/status.h"
#include "common/tensor_view.h"
#include "kernels/backend.h"

namespace shardtrain::model {

struct VariableInfo {
  std::string name;  // Keras-style path, e.g. "dense/kernel"
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
  // Allocates zeroed parameter and gradient buffers on `backend`, which must
  // outlive the store. ResourceExhausted naming "parameters" or "gradients".
  Status Finalize(kernels::KernelBackend& backend);
  // Finalize on a process-wide CPU backend (host memory): for host-only users
  // of a bare store (tests, tools). Aborts only when host memory runs out.
  void Finalize();
  // After Finalize(), on a host-readable backend: copies the gradients into
  // `storage` (size() floats of host memory, not owned, must stay valid while
  // the store uses it) and uses it from then on instead of the store's own
  // buffer, which is released. Null, or a backend whose device memory the
  // host cannot read (a host window cannot hold device gradients): no change.
  void UseGradientStorage(float* storage);

  // Host copies of the whole buffers (size() floats at `host`), for host code
  // on any backend: each copies on the Finalize backend's compute stream and
  // waits for it, returning the backend's error, if any. On the CPU backend
  // they are memcpy; host code there may also use the pointers directly.
  Status CopyParamsToHost(float* host) const;
  Status CopyParamsFromHost(const float* host);
  Status CopyGradsToHost(float* host) const;
  Status CopyGradsFromHost(const float* host);
  // The backend the buffers live on (null before Finalize).
  kernels::KernelBackend* backend() const { return backend_; }

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

  float* params() { return params_.floats(); }
  const float* params() const { return params_.floats(); }
  float* grads() { return grads_data_; }
  const float* grads() const { return grads_data_; }
  float* param(int index) { return params_.floats() + variable(index).offset; }
  float* grad(int index) { return grads_data_ + variable(index).offset; }
  TensorView ParamView(int index) { return TensorView::Of(param(index), variable(index).shape); }

 private:
  std::vector<VariableInfo> variables_;
  int64_t size_ = 0;
  int64_t trainable_size_ = 0;
  bool finalized_ = false;
  kernels::KernelBackend* backend_ = nullptr;
  kernels::DeviceBuffer params_;
  kernels::DeviceBuffer grads_;  // own gradient memory, unless external storage is used
  float* grads_data_ = nullptr;  // grads_.floats() or the external storage
};

}  // namespace shardtrain::model
