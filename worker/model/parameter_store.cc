// ParameterStore: variable registration, buffer allocation on the backend,
// host copies and the optional external gradient storage. Not thread-safe
// (see parameter_store.h).
#include "worker/model/parameter_store.h"

#include <cstring>

#include "common/logging.h"

namespace shardtrain::model {
int ParameterStore::AddVariable(std::string name, Shape shape, bool trainable) {
  CHECK(!finalized_) << "AddVariable after Finalize";
  VariableInfo info{std::move(name), std::move(shape), size_, trainable, -1};
  size_ += info.shape.num_elements();
  if (trainable) {
    info.trainable_offset = trainable_size_;
    trainable_size_ += info.shape.num_elements();
  }
  variables_.push_back(std::move(info));
  return static_cast<int>(variables_.size()) - 1;
}

Status ParameterStore::Finalize(kernels::KernelBackend& backend) {
  CHECK(!finalized_) << "Finalize twice";
  const int64_t bytes = size_ * static_cast<int64_t>(sizeof(float));
  ASSIGN_OR_RETURN(params_, backend.AllocateDevice(bytes, "parameters"));
  ASSIGN_OR_RETURN(grads_, backend.AllocateDevice(bytes, "gradients"));
  if (size_ > 0) {
    backend.Fill(params_.floats(), 0.0f, size_);
    backend.Fill(grads_.floats(), 0.0f, size_);
  }
  backend_ = &backend;
  grads_data_ = grads_.floats();
  finalized_ = true;
  return OkStatus();
}

void ParameterStore::Finalize() {
  const Status status = Finalize(kernels::SharedCpuBackend());
  CHECK(status.ok()) << status.ToString();
}

std::vector<ParameterSpan> ParameterStore::TrainableSpans() const {
  std::vector<ParameterSpan> spans;
  for (const VariableInfo& info : variables_) {
    if (!info.trainable || info.shape.num_elements() == 0) continue;
    if (!spans.empty() && spans.back().offset + spans.back().size == info.offset) {
      spans.back().size += info.shape.num_elements();
    } else {
      spans.push_back({info.offset, info.shape.num_elements()});
    }
  }
  return spans;
}

void ParameterStore::UseGradientStorage(float* storage) {
  if (storage == nullptr || storage == grads_data_) return;
  CHECK(finalized_) << "UseGradientStorage before Finalize";
  if (!backend_->host_reads_device_memory()) return;
  if (size_ > 0) std::memcpy(storage, grads_data_, static_cast<size_t>(size_) * sizeof(float));
  grads_data_ = storage;
  grads_.reset();
}

Status ParameterStore::CopyParamsToHost(float* host) const {
  CHECK(finalized_) << "CopyParamsToHost before Finalize";
  if (size_ == 0) return OkStatus();
  backend_->CopyToHost(host, params_.floats(), size_ * static_cast<int64_t>(sizeof(float)));
  return backend_->Synchronize();
}

Status ParameterStore::CopyParamsFromHost(const float* host) {
  CHECK(finalized_) << "CopyParamsFromHost before Finalize";
  if (size_ == 0) return OkStatus();
  backend_->CopyToDevice(params_.floats(), host, size_ * static_cast<int64_t>(sizeof(float)));
  return backend_->Synchronize();
}

Status ParameterStore::CopyGradsToHost(float* host) const {
  CHECK(finalized_) << "CopyGradsToHost before Finalize";
  if (size_ == 0) return OkStatus();
  backend_->CopyToHost(host, grads_data_, size_ * static_cast<int64_t>(sizeof(float)));
  return backend_->Synchronize();
}

Status ParameterStore::CopyGradsFromHost(const float* host) {
  CHECK(finalized_) << "CopyGradsFromHost before Finalize";
  if (size_ == 0) return OkStatus();
  backend_->CopyToDevice(grads_data_, host, size_ * static_cast<int64_t>(sizeof(float)));
  return backend_->Synchronize();
}

}  // namespace shardtrain::model
