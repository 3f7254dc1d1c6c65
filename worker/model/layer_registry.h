// Custom layers: Keras classes that shardtrain does not build in, registered
// from C++ under their Keras registered name ("package>ClassName") so that job
// configs (`layers { custom { registered_name: ... config_json: ... } }`) and
// Keras JSON naming them load, train, checkpoint and export.
//
// A CustomLayer maps a flat (batch, in) input to a flat (batch, out) output on
// the host, owns zero or more float32 weights (stored in the model's
// ParameterStore like Dense's, named "<layer>/<weight>"), and returns its
// Keras `config` for the round trip. Forward/Backward must be deterministic.
//
// Thread-safety: register before creating models (registration takes a lock;
// lookups too). Layer objects are used by one model, one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/shape.h"
#include "common/status.h"

namespace shardtrain::model {

class CustomLayer {
 public:
  virtual ~CustomLayer() = default;
  // Output features for `in` input features; InvalidArgument when `in` does not fit.
  virtual StatusOr<int64_t> OutputSize(int64_t in) const = 0;
  // The weights for `in` input features: Keras variable names and shapes.
  virtual std::vector<std::pair<std::string, Shape>> Weights(int64_t in) const = 0;
  // Initial values (weights as Weights() lists them); default: zeros.
  virtual void Initialize(int64_t in, const std::vector<float*>& weights) const;
  // y (batch, out) from x (batch, in).
  virtual void Forward(const float* x, int64_t batch, int64_t in,
                       const std::vector<const float*>& weights, float* y) const = 0;
  // From dy (batch, out): dx (batch, in; null when not needed) and each
  // weight's gradient (overwritten). x and y are this batch's Forward.
  virtual void Backward(const float* x, const float* y, const float* dy, int64_t batch, int64_t in,
                        const std::vector<const float*>& weights, float* dx,
                        const std::vector<float*>& weight_grads) const = 0;
  // The Keras `config` object as JSON text (the round trip of the factory's input).
  virtual std::string ConfigJson() const = 0;
};

// Builds a layer from its Keras `config` JSON text; InvalidArgument naming the field.
using LayerFactory = std::function<StatusOr<std::unique_ptr<CustomLayer>>(const std::string&)>;

// Registers `factory` under `registered_name` ("package>ClassName").
// AlreadyExists when the name is taken; InvalidArgument for an empty name.
Status RegisterLayer(const std::string& registered_name, LayerFactory factory);

// Whether `registered_name` is registered.
bool IsLayerRegistered(const std::string& registered_name);

// A new layer of a registered class; NotFound naming the class and how to
// register it otherwise.
StatusOr<std::unique_ptr<CustomLayer>> CreateCustomLayer(const std::string& registered_name,
                                                         const std::string& config_json);

}  // namespace shardtrain::model
