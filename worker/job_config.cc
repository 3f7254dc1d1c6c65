#include "worker/job_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "worker/callbacks/monitor.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/data/example_decoder.h"
#include "worker/data/job_data.h"
#include "worker/loss/loss.h"
#include "worker/metrics/metric_set.h"
#include "worker/model/keras_json.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain {
namespace {

// Collects the first parse error as "source:line:col: message" (1-based).
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstErrorCollector(std::string source) : source_(std::move(source)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!first_.empty()) return;
    first_ = source_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " +
             message;
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string source_;
  std::string first_;
};

}  // namespace

StatusOr<config::JobConfig> ParseJobConfig(const std::string& text,
                                           const std::string& source_name) {
  config::JobConfig config;
  FirstErrorCollector errors(source_name);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(false);
  if (!parser.ParseFromString(text, &config)) {
    std::string where = errors.first().empty() ? source_name + ": parse error" : errors.first();
    return InvalidArgumentError(where +
                                " (the job schema with every field is proto/config.proto)");
  }
  return config;
}

StatusOr<config::JobConfig> LoadJobConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundError("cannot read the config file '" + path +
                         "': check the path (example: configs/fashion_mlp.textproto)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseJobConfig(text.str(), path);
}

void ApplyOverrides(const JobOverrides& o, config::JobConfig* config) {
  if (o.data_dir) config->mutable_data()->set_dir(*o.data_dir);
  if (o.run_dir) config->mutable_training()->set_run_dir(*o.run_dir);
  if (o.epochs) config->mutable_training()->set_epochs(*o.epochs);
  if (o.batch_size) config->mutable_training()->set_batch_size(*o.batch_size);
  if (o.train_examples) config->mutable_data()->set_train_examples(*o.train_examples);
  if (o.test_examples) config->mutable_data()->set_test_examples(*o.test_examples);
  if (o.seed) config->mutable_training()->set_seed(*o.seed);
  if (o.learning_rate) config->mutable_optimizer()->set_learning_rate(*o.learning_rate);
  if (o.device) config->mutable_training()->set_device(*o.device);
  if (o.model_json) {  // the flag replaces the config's architecture
    config->set_model_json(*o.model_json);
    config->clear_model();
  }
  if (o.save_freq) config->mutable_checkpoint()->set_save_freq(*o.save_freq);
  if (o.max_to_keep) {
    config->mutable_checkpoint()->set_max_to_keep(static_cast<int32_t>(*o.max_to_keep));
  }
}

StatusOr<int64_t> CheckpointEverySteps(const config::CheckpointConfig& checkpoint) {
  const std::string& freq = checkpoint.save_freq();
  if (freq == "epoch" || freq == "none") return 0;
  char* end = nullptr;
  long long steps = std::strtoll(freq.c_str(), &end, 10);
  if (freq.empty() || *end != '\0' || steps <= 0) {
    return InvalidArgumentError("checkpoint.save_freq must be \"epoch\", \"none\" or a positive "
                                "number of steps, got '" + freq + "' (or use --save-freq)");
  }
  return static_cast<int64_t>(steps);
}

namespace {

// model_json: the Keras JSON file replaces an empty `model`.
Status LoadModelJson(config::JobConfig* config) {
  if (config->model_json().empty()) return OkStatus();
  if (config->model().layers_size() > 0 || config->model().input_shape_size() > 0) {
    return InvalidArgumentError("set either model or model_json ('" + config->model_json() +
                                "'), not both");
  }
  std::ifstream in(config->model_json(), std::ios::binary);
  if (!in) {
    return NotFoundError("cannot read the Keras model JSON '" + config->model_json() +
                         "' (model_json / --model-json)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  ASSIGN_OR_RETURN(*config->mutable_model(),
                   model::ModelConfigFromKerasJson(text.str(), config->model_json()));
  return OkStatus();
}

Status ValidateTraining(config::JobConfig* config) {
  config::TrainingConfig* training = config->mutable_training();
  if (training->batch_size() <= 0) {
    return InvalidArgumentError("training.batch_size must be positive, got " +
                                std::to_string(training->batch_size()) +
                                " (set it in the config or with --batch-size)");
  }
  if (training->epochs() <= 0) {
    return InvalidArgumentError("training.epochs must be positive, got " +
                                std::to_string(training->epochs()) + " (or use --epochs)");
  }
  if (training->device().empty()) training->set_device("auto");
  const std::string& device = training->device();
  if (device != "cpu" && device != "cuda" && device != "auto") {
    return InvalidArgumentError("training.device must be cpu, cuda or auto, got '" + device + "'");
  }
  if (!training->has_shuffle()) training->set_shuffle(true);
  if (training->run_dir().empty()) {
    training->set_run_dir("runs/" + (config->name().empty() ? std::string("job") : config->name()));
  }
  return OkStatus();
}

// How training data streams (data.in_memory false): the values are left as
// set; 0 means the default (worker/data/job_data.h's StreamShuffleBuffer,
// StreamShardRecords and StreamReaderThreads resolve it: 10000,
// ceil(examples / 64) in [1, 1024], 2).
Status ValidateStreaming(const config::DataConfig& data) {
  if (data.shuffle_buffer() < 0) {
    return InvalidArgumentError("data.shuffle_buffer must be >= 0 (0 = 10000), got " +
                                std::to_string(data.shuffle_buffer()));
  }
  if (data.shard_records() < 0) {
    return InvalidArgumentError("data.shard_records must be >= 0 (0 = from the data: ceil(examples / 64), "
                                "at most 1024), got " +
                                std::to_string(data.shard_records()));
  }
  if (data.reader_threads() < 0 || data.reader_threads() > 64) {
    return InvalidArgumentError("data.reader_threads must be in [0, 64] (0 = 2), got " +
                                std::to_string(data.reader_threads()));
  }
  return OkStatus();
}

// The data fields; the feature spec against model.input_shape (ExampleDecoder).
Status ValidateData(const config::JobConfig& config) {
  const config::DataConfig& data = config.data();
  if (data.dir().empty() && data.train_files().empty()) {
    return InvalidArgumentError(
        "neither data.train_files nor data.dir is set: point data.train_files at your "
        "TFRecord files, or data.dir (or --data) at the shards written by `shardtrain data "
        "prepare`");
  }
  if (data.train_examples() < 0 || data.test_examples() < 0) {
    return InvalidArgumentError("data.train_examples and data.test_examples must be >= 0");
  }
  RETURN_IF_ERROR(ValidateStreaming(data));
  if (data.num_classes() <= 0 && !loss::HasVectorLabels(data)) {
    return InvalidArgumentError(
        "data.num_classes must be positive for class-id labels (10 for Fashion-MNIST)");
  }
  const auto& shape = config.model().input_shape();
  if (shape.empty()) return OkStatus();  // the model's own check names it
  return data::ExampleDecoder::Create(data, {shape.begin(), shape.end()}).status();
}

// "val_loss", or "loss" for a job without validation data.
std::string DefaultMonitor(const config::JobConfig& config) {
  return data::HasValidationData(config) ? "val_loss" : "loss";
}

// The error for `monitor` of `field`, which is not among the job's logs.
Status NotLoggedError(const config::JobConfig& config, const std::string& field,
                      const std::string& monitor, const std::string& otherwise) {
  if (monitor.rfind("val_", 0) == 0 && !data::HasValidationData(config)) {
    return InvalidArgumentError(
        field + ".monitor '" + monitor + "' needs validation data, and this job has none "
        "(data.train_files without data.validation_files or training.validation_split): "
        "monitor 'loss' or a metric, or add validation data");
  }
  return InvalidArgumentError(field + ".monitor '" + monitor + "' " + otherwise);
}

// checkpoint.monitor and the filepath's {fields} name logs of this job
// (metrics::LogNames), besides {epoch} and {step}.
Status ValidateCheckpointLogs(config::JobConfig* config) {
  config::CheckpointConfig* checkpoint = config->mutable_checkpoint();
  const std::vector<std::string> names = metrics::LogNames(*config);
  std::map<std::string, double> logs;
  for (const std::string& name : names) logs[name] = 0.0;
  RETURN_IF_ERROR(
      checkpoint::FormatCheckpointName(checkpoint->filepath(), 1, 1, logs).status());
  if (checkpoint->monitor().empty()) checkpoint->set_monitor(DefaultMonitor(*config));
  if (logs.count(checkpoint->monitor()) == 0) {
    std::string logged;
    for (const std::string& name : names) logged += (logged.empty() ? "" : ", ") + name;
    return NotLoggedError(*config, "checkpoint", checkpoint->monitor(),
                          "is not logged by this job; its logs are " + logged +
                              " (add the metric to `metrics`)");
  }
  ASSIGN_OR_RETURN(*checkpoint->mutable_mode(),
                   callbacks::ResolveMonitorMode("checkpoint", checkpoint->monitor(),
                                                 checkpoint->mode()));
  return OkStatus();
}

Status ValidateCheckpointPolicy(config::CheckpointConfig* checkpoint) {
  if (checkpoint->filepath().empty()) checkpoint->set_filepath("ckpt-{step}");
  if (checkpoint->filepath().find('/') != std::string::npos) {
    return InvalidArgumentError("checkpoint.filepath '" + checkpoint->filepath() +
                                "' must be a file name template without '/' (checkpoints go to "
                                "RUN_DIR/checkpoints)");
  }
  if (checkpoint->save_freq().empty()) checkpoint->set_save_freq("epoch");
  RETURN_IF_ERROR(CheckpointEverySteps(*checkpoint).status());
  if (!checkpoint->has_max_to_keep()) checkpoint->set_max_to_keep(5);
  if (checkpoint->max_to_keep() == 0) {
    return InvalidArgumentError("checkpoint.max_to_keep must be positive, or negative to keep all");
  }
  if (!(checkpoint->keep_checkpoint_every_n_hours() >= 0)) {
    return InvalidArgumentError("checkpoint.keep_checkpoint_every_n_hours must be >= 0");
  }
  return OkStatus();
}

// training.validation_split and training.initial_epoch (Keras fit options).
Status ValidateFitOptions(const config::TrainingConfig& training) {
  const double split = training.validation_split();
  if (!(split >= 0.0 && split < 1.0)) {
    return InvalidArgumentError("training.validation_split must be in [0, 1), got " +
                                std::to_string(split));
  }
  if (training.initial_epoch() < 0 || training.initial_epoch() >= training.epochs()) {
    return InvalidArgumentError("training.initial_epoch must be in [0, training.epochs = " +
                                std::to_string(training.epochs()) + "), got " +
                                std::to_string(training.initial_epoch()));
  }
  return OkStatus();
}

// A callback's `monitor` (default val_loss) must be an epoch log; `mode`
// becomes min or max. `field` names the callback in errors.
Status ValidateMonitor(const config::JobConfig& config, const std::string& field,
                       std::string* monitor, std::string* mode) {
  if (monitor->empty()) *monitor = DefaultMonitor(config);
  const std::vector<std::string> names = metrics::LogNames(config);
  if (std::find(names.begin(), names.end(), *monitor) == names.end()) {
    return NotLoggedError(config, field, *monitor,
                          "is not logged: use loss or a `metrics` entry (accuracy by "
                          "default), or one of them with a val_ prefix");
  }
  ASSIGN_OR_RETURN(*mode, callbacks::ResolveMonitorMode(field, *monitor, *mode));
  return OkStatus();
}

Status ValidateEarlyStopping(const config::JobConfig& config, config::EarlyStoppingConfig* c) {
  const std::string field = "callbacks.early_stopping";
  RETURN_IF_ERROR(ValidateMonitor(config, field, c->mutable_monitor(), c->mutable_mode()));
  if (c->patience() < 0 || c->start_from_epoch() < 0 || !std::isfinite(c->min_delta()) ||
      (c->has_baseline() && !std::isfinite(c->baseline()))) {
    return InvalidArgumentError(field + ": patience and start_from_epoch must be >= 0, min_delta "
                                "and baseline finite");
  }
  return OkStatus();
}

// Keras defaults (factor 0.1, patience 10, min_delta 1e-4) for unset fields.
Status ValidateReduceLrOnPlateau(const config::JobConfig& config,
                                 config::ReduceLROnPlateauConfig* c) {
  const std::string field = "callbacks.reduce_lr_on_plateau";
  RETURN_IF_ERROR(ValidateMonitor(config, field, c->mutable_monitor(), c->mutable_mode()));
  if (!c->has_factor()) c->set_factor(0.1);
  if (!c->has_patience()) c->set_patience(10);
  if (!c->has_min_delta()) c->set_min_delta(1e-4);
  if (!(c->factor() >= 0.0 && c->factor() < 1.0)) {
    return InvalidArgumentError(field + ".factor must be in [0, 1) (Keras refuses a factor >= "
                                "1), got " + std::to_string(c->factor()));
  }
  if (c->patience() < 0 || c->cooldown() < 0 || !(c->min_lr() >= 0.0) ||
      !std::isfinite(c->min_lr()) || !std::isfinite(c->min_delta())) {
    return InvalidArgumentError(field + ": patience and cooldown must be >= 0, min_lr finite and "
                                ">= 0, min_delta finite");
  }
  if (config.optimizer().has_learning_rate_schedule()) {
    return InvalidArgumentError(field + " changes the optimizer's learning rate, which "
                                "optimizer.learning_rate_schedule sets instead (Keras cannot set "
                                "a schedule's rate): use one or the other");
  }
  return OkStatus();
}

Status ValidateCallbacks(config::JobConfig* config) {
  if (!config->has_callbacks()) return OkStatus();  // (no empty message in the saved config)
  config::CallbacksConfig* callbacks = config->mutable_callbacks();
  if (callbacks->has_early_stopping()) {
    RETURN_IF_ERROR(ValidateEarlyStopping(*config, callbacks->mutable_early_stopping()));
  }
  if (callbacks->has_reduce_lr_on_plateau()) {
    RETURN_IF_ERROR(ValidateReduceLrOnPlateau(*config, callbacks->mutable_reduce_lr_on_plateau()));
  }
  return OkStatus();
}

}  // namespace

Status ValidateJobConfig(config::JobConfig* config) {
  RETURN_IF_ERROR(LoadModelJson(config));
  RETURN_IF_ERROR(ValidateTraining(config));
  RETURN_IF_ERROR(ValidateData(*config));
  RETURN_IF_ERROR(ValidateFitOptions(config->training()));
  RETURN_IF_ERROR(metrics::ValidateMetrics(*config));
  RETURN_IF_ERROR(ValidateCheckpointPolicy(config->mutable_checkpoint()));
  RETURN_IF_ERROR(ValidateCheckpointLogs(config));
  RETURN_IF_ERROR(optimizer::Optimizer::Validate(config->optimizer()));
  RETURN_IF_ERROR(ValidateCallbacks(config));
  if (config->loss().kind_case() == config::LossConfig::KIND_NOT_SET) {
    return InvalidArgumentError(
        "loss is not set: add e.g. `loss { sparse_categorical_crossentropy { from_logits: true } }`");
  }
  // The loss and training.class_weight must fit the data's labels (data.label:
  // class ids, or VECTOR labels: loss::CheckLossAcceptsTargets). Trainer::Create
  // checks the model's output width (data.num_classes, 1 for
  // binary_crossentropy, or data.label.size).
  return loss::CheckLossConfig(*config);
}

}  // namespace shardtrain
