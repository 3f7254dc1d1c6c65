// ParameterStore: variable registration, buffer allocation and the optional
// external gradient storage. Not thread-safe (see parameter_store.h).
#include "worker/model/parameter_store.h"

#include <algorithm>

#include "common/logging.h"

namespace shardtrain::model {

int ParameterStore::AddVariable(std::string name, Shape shape, bool trainable) {
  CHECK(params_.empty()) << "AddVariable after Finalize";
  VariableInfo info{std::move(name), std::move(shape), size_, trainable, -1};
  size_ += info.shape.num_elements();
  if (trainable) {
    info.trainable_offset = trainable_size_;
    trainable_size_ += info.shape.num_elements();
  }
  variables_.push_back(std::move(info));
  return static_cast<int>(variables_.size()) - 1;
}

void ParameterStore::Finalize() {
  params_.assign(static_cast<size_t>(size_), 0.0f);
  grads_.assign(static_cast<size_t>(size_), 0.0f);
  grads_data_ = grads_.data();
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
  CHECK(!params_.empty() || size_ == 0) << "UseGradientStorage before Finalize";
  std::copy(grads_data_, grads_data_ + size_, storage);
  grads_data_ = storage;
  std::vector<float>().swap(grads_);
}

}  // namespace shardtrain::model
