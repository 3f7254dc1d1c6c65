// Shared by `evaluate` and `predict`: runs a model on examples in batches and
// returns its outputs (examples x outputs, row-major). The model is a job's
// (weights from a checkpoint or Keras file) or an exported SavedModel run by
// our serving runtime (its serving_default signature, one input).
//
// Each input value v (uint8 pixel or float) reaches the model as
// v * scale + offset (ModelInputs; the identity leaves floats untouched), as
// ExampleDecoder scales a feature. Errors: InvalidArgument when the examples'
// size differs from the model's input (naming `source` and both shapes), or
// --probabilities for a model whose outputs are not logits; FailedPrecondition
// for a SavedModel without a usable serving_default signature.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/model_setup.h"
#include "common/status.h"
#include "worker/data/dataset.h"

namespace shardtrain::cli {

// Examples held in memory: uint8 pixels or float inputs, rows x row_size.
struct ModelInputs {
  std::string source;  // names the inputs in errors ("x.npy", "data/ test split")
  int64_t rows = 0;
  int64_t row_size = 0;
  std::string shape;            // the examples' shape as read, "(10, 28, 28)"
  std::vector<uint8_t> pixels;  // when the inputs are uint8 pixels
  std::vector<float> values;    // otherwise
  float scale = 1.0f;           // the model sees value * scale + offset
  float offset = 0.0f;
};

// The decoded features of `dataset` as inputs named `source` in errors.
ModelInputs InputsFromDataset(data::Dataset dataset, std::string source);

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  // Values per example the model takes; -1 when the model does not say.
  virtual int64_t input_size() const = 0;
  // Outputs (rows x outputs) for `x` (rows x input_size); `rows` <= max_batch().
  virtual StatusOr<std::vector<float>> Run(const float* x, int64_t rows) = 0;
  // The most rows one Run takes.
  virtual int64_t max_batch() const = 0;
};

// Runs `job`'s model (inference mode), which must outlive the runner. With
// `probabilities` a from-logits classifier's outputs go through softmax.
StatusOr<std::unique_ptr<ModelRunner>> JobModelRunner(ModelJob* job, bool probabilities);

// Loads the SavedModel version directory `dir`. With `probabilities` its
// `probabilities` output is returned instead of `output_0`.
StatusOr<std::unique_ptr<ModelRunner>> SavedModelRunner(const std::string& dir, bool probabilities);

// The outputs for every example of `inputs`, `batch_size` rows per Run.
StatusOr<std::vector<float>> RunInBatches(ModelRunner& runner, const ModelInputs& inputs,
                                          int64_t batch_size, int64_t* output_size);

}  // namespace shardtrain::cli
