// ServedModels: the models one `shardtrain serve` process serves (one
// ModelManager each, from --model_name/--model_base_path or from the entries
// of a --model_config_file), found by name for the REST server. The set is
// fixed at construction. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serving/model_manager.h"

namespace shardtrain::serving {

class ServedModels {
 public:
  explicit ServedModels(std::vector<std::unique_ptr<ModelManager>> models);
  ~ServedModels();  // Stop()

  // Starts (first load and poll thread) and stops every model.
  void Start();
  void Stop();

  // The model named `name`, or null.
  const ModelManager* Find(const std::string& name) const;
  const std::vector<std::unique_ptr<ModelManager>>& models() const { return models_; }
  // "a, b" for messages.
  std::string Names() const;

  // Summed over the models.
  int64_t load_events() const;
  int64_t load_failures() const;

 private:
  std::vector<std::unique_ptr<ModelManager>> models_;
};

}  // namespace shardtrain::serving
