// The SavedModel layer graph (storage/saved_model/export_model.h) of a
// trained Model: each layer becomes an ExportLayer with its weights copied
// from the parameter store. Dropout is the identity at inference and Flatten
// of a flat tensor changes nothing, so both vanish (their consumers read
// their input); an Activation right after a linear Dense or Conv2D that only
// it reads folds into that layer, so a Dense stack exports the graph it
// always has. The weights are read on any backend: in place where the host
// reads the model's memory (the CPU), otherwise through one host copy of the
// parameters (model::HostParams), so every backend exports the same bytes.
// Stateless.
#pragma once

#include <string>

#include "common/status.h"
#include "storage/saved_model/export_model.h"
#include "worker/model/model.h"

namespace shardtrain::cli {

// `model` as an ExportModel whose input is called `input_name` (no
// probabilities output: the caller decides). Unimplemented naming the layer
// for a custom layer; the backend's error when copying the parameters fails.
StatusOr<storage::saved_model::ExportModel> ExportModelOf(const model::Model& model,
                                                          const std::string& input_name);

}  // namespace shardtrain::cli
