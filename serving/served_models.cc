#include "serving/served_models.h"

namespace shardtrain::serving {

ServedModels::ServedModels(std::vector<std::unique_ptr<ModelManager>> models)
    : models_(std::move(models)) {}

ServedModels::~ServedModels() { Stop(); }

void ServedModels::Start() {
  for (auto& model : models_) model->Start();
}

void ServedModels::Stop() {
  for (auto& model : models_) model->Stop();
}

const ModelManager* ServedModels::Find(const std::string& name) const {
  for (const auto& model : models_) {
    if (model->name() == name) return model.get();
  }
  return nullptr;
}

std::string ServedModels::Names() const {
  std::string out;
  for (const auto& model : models_) out += (out.empty() ? "" : ", ") + model->name();
  return out;
}

int64_t ServedModels::load_events() const {
  int64_t total = 0;
  for (const auto& model : models_) total += model->load_events();
  return total;
}

int64_t ServedModels::load_failures() const {
  int64_t total = 0;
  for (const auto& model : models_) total += model->load_failures();
  return total;
}

}  // namespace shardtrain::serving
