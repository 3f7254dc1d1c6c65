#include "worker/model/parameter_store.h"

#include "common/logging.h"

namespace shardtrain::model {

int ParameterStore::AddVariable(std::string name, Shape shape) {
  CHECK(params_.empty()) << "AddVariable after Finalize";
  VariableInfo info{std::move(name), std::move(shape), size_};
  size_ += info.shape.num_elements();
  variables_.push_back(std::move(info));
  return static_cast<int>(variables_.size()) - 1;
}

void ParameterStore::Finalize() {
  params_.assign(static_cast<size_t>(size_), 0.0f);
  grads_.assign(static_cast<size_t>(size_), 0.0f);
}

}  // namespace shardtrain::model
