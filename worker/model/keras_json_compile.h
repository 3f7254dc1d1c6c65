// The training side of Keras model JSON: the Keras 3 compile_config and the
// legacy .h5 training_config (spec keras-formats.md §5.3, §7) of a job's
// loss, metrics and optimizer. Pure functions; thread-safe. Internal to
// worker/model's Keras JSON code (KerasTrainingConfigJson is public in keras_json.h).
#pragma once

#include "proto/config.pb.h"
#include "worker/model/keras_json_fields.h"

namespace shardtrain::model::keras_json {

// {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics"} (Keras 3).
Json KerasCompileConfig(const config::JobConfig& job);

}  // namespace shardtrain::model::keras_json
