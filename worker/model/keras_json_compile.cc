// Keras compile_config and training_config JSON (keras_json_compile.h).
#include "worker/model/keras_json_compile.h"

#include "worker/loss/loss.h"
#include "worker/model/keras_json.h"
#include "worker/optimizer/keras_optimizer_json.h"

namespace shardtrain::model {
namespace keras_json {
namespace {

Json LossConfig(const config::LossConfig& loss, bool keras3) {
  Json config;
  std::string class_name;
  switch (loss.kind_case()) {
    case config::LossConfig::kCategoricalCrossentropy:
      class_name = "CategoricalCrossentropy";
      config["name"] = "categorical_crossentropy";
      config["reduction"] = "sum_over_batch_size";
      config["from_logits"] = loss.categorical_crossentropy().from_logits();
      config["label_smoothing"] = loss.categorical_crossentropy().label_smoothing();
      config["axis"] = -1;
      break;
    case config::LossConfig::kMeanSquaredError:
      class_name = "MeanSquaredError";
      config["name"] = "mean_squared_error";
      config["reduction"] = "sum_over_batch_size";
      break;
    case config::LossConfig::kBinaryCrossentropy:
      class_name = "BinaryCrossentropy";
      config["name"] = "binary_crossentropy";
      config["reduction"] = "sum_over_batch_size";
      config["from_logits"] = loss.binary_crossentropy().from_logits();
      config["label_smoothing"] = loss.binary_crossentropy().label_smoothing();
      config["axis"] = -1;
      break;
    default:
      class_name = "SparseCategoricalCrossentropy";
      config["name"] = "sparse_categorical_crossentropy";
      config["reduction"] = "sum_over_batch_size";
      config["from_logits"] = loss.sparse_categorical_crossentropy().from_logits();
      config["ignore_class"] = nullptr;
      if (keras3) config["axis"] = -1;
      break;
  }
  Json out;
  if (keras3) out["module"] = "keras.losses";
  out["class_name"] = class_name;
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

// The metric object Keras resolves "accuracy" to for this job, from the
// shapes as Keras 3's compile_utils.get_metric does: BinaryAccuracy for a
// one-unit output, CategoricalAccuracy for VECTOR labels, otherwise
// SparseCategoricalAccuracy (class ids).
Json AccuracyMetric(const config::JobConfig& job, bool keras3) {
  Json m;
  if (keras3) m["module"] = "keras.metrics";
  if (loss::OutputUnits(job.loss(), job.data()) == 1) {
    m["class_name"] = "BinaryAccuracy";
    m["config"] = Json{{"name", "binary_accuracy"}, {"dtype", "float32"}, {"threshold", 0.5}};
  } else if (loss::HasVectorLabels(job.data())) {
    m["class_name"] = "CategoricalAccuracy";
    m["config"] = Json{{"name", "categorical_accuracy"}, {"dtype", "float32"}};
  } else {
    m["class_name"] = "SparseCategoricalAccuracy";
    m["config"] = Json{{"name", "sparse_categorical_accuracy"}, {"dtype", "float32"}};
  }
  if (keras3) m["registered_name"] = nullptr;
  return m;
}

Json Metrics(const config::JobConfig& job, bool keras3) {
  Json metrics = Json::array();
  for (const std::string& metric : job.metrics()) {
    if (metric == "accuracy") metrics.push_back(AccuracyMetric(job, keras3));
  }
  return metrics;
}

}  // namespace

Json KerasCompileConfig(const config::JobConfig& job) {
  return Json{{"optimizer", optimizer::KerasOptimizerJson(job.optimizer(), true)},
              {"loss", LossConfig(job.loss(), true)},
              {"loss_weights", nullptr},
              {"metrics", Metrics(job, true)},
              {"weighted_metrics", nullptr}};
}

}  // namespace keras_json

std::string KerasTrainingConfigJson(const config::JobConfig& job) {
  using keras_json::Json;
  Json metrics = Json::array();
  metrics.push_back(keras_json::Metrics(job, false));  // tf.keras: one list per output
  Json root{{"loss", keras_json::LossConfig(job.loss(), false)},
            {"metrics", std::move(metrics)},
            {"weighted_metrics", nullptr},
            {"loss_weights", nullptr},
            {"optimizer_config", optimizer::KerasOptimizerJson(job.optimizer(), false)}};
  return root.dump();
}

}  // namespace shardtrain::model
