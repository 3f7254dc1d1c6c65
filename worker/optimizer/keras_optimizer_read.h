// Reads the optimizer a Keras file was compiled with, the inverse of
// keras_optimizer_json.h: the "optimizer" of a Keras 3 config.json's
// compile_config, or the "optimizer_config" of a tf.keras 2 training_config,
// as an OptimizerConfig — Adam, AdamW, SGD and RMSprop with their
// hyperparameters, clipping, weight decay and a learning-rate schedule
// (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay).
// Keras defaults are left unset, so Keras's own defaults apply. Settings we
// cannot honour (amsgrad, centered RMSprop, other classes) are
// InvalidArgument naming the field; a file without an optimizer is NotFound.
#pragma once

#include <string>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain::optimizer {

// `model_config_json`: a .keras config.json (may be empty); `training_config_json`:
// a legacy .h5's training_config (may be empty). The first that has an optimizer wins.
StatusOr<config::OptimizerConfig> OptimizerFromKerasFile(const std::string& model_config_json,
                                                         const std::string& training_config_json);

}  // namespace shardtrain::optimizer
