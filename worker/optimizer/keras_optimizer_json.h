// The Keras serialization of an OptimizerConfig: the optimizer entry of a
// Keras 3 compile_config ({"module", "class_name", "config",
// "registered_name"}) or of a tf.keras 2 training_config ({"class_name",
// "config"}), with the values the optimizer runs with (Keras defaults for unset
// fields). A learning-rate schedule is written where Keras writes it, as the
// serialized schedule in config.learning_rate; weight_decay, clipnorm,
// global_clipnorm and clipvalue follow learning_rate (as in Keras's
// get_config) when set, and are left out otherwise, so the files of jobs
// without them are unchanged.
#pragma once

#include <nlohmann/json.hpp>

#include "proto/config.pb.h"

namespace shardtrain::optimizer {

nlohmann::ordered_json KerasOptimizerJson(const config::OptimizerConfig& optimizer, bool keras3);

// keras.optimizers.schedules.serialize(schedule): {"module":
// "keras.optimizers.schedules", "class_name", "config", "registered_name"} for
// Keras 3; {"class_name", "config"} for tf.keras 2.
nlohmann::ordered_json KerasScheduleJson(const config::LearningRateSchedule& schedule, bool keras3);

}  // namespace shardtrain::optimizer
