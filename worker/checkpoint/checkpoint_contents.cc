#include "worker/checkpoint/checkpoint_contents.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include <google/protobuf/text_format.h>

#include "storage/checkpoint/keras_object_graph.h"
#include "worker/model/keras_weights.h"

namespace shardtrain::checkpoint {
namespace {

using storage::KerasCheckpointVariable;

std::string StateKey(const char* name) { return std::string(kStatePrefix) + name; }

template <typename T>
SaveTensor Scalar(std::string key, DType dtype, T value) {
  SaveTensor t;
  t.key = std::move(key);
  t.dtype = dtype;
  t.owned.resize(sizeof(T));
  std::memcpy(t.owned.data(), &value, sizeof(T));
  t.bytes = sizeof(T);
  return t;
}

SaveTensor String(std::string key, std::string value) {
  SaveTensor t;
  t.key = std::move(key);
  t.dtype = DType::kString;
  t.strings = {std::move(value)};
  return t;
}

storage::KerasOptimizerSpec OptimizerSpec(const optimizer::Optimizer::KerasVariables& keras) {
  storage::KerasOptimizerSpec spec{keras.class_name, {"iter"}, keras.slot_names};
  for (const auto& [name, value] : keras.hyper) spec.hyper_parameters.push_back(name);
  return spec;
}

// The checkpoint layout of a model: tf.keras's keys and object graph, and
// where each layout weight lives in the model's parameter store.
struct ModelLayout {
  storage::KerasCheckpointLayout keras;
  std::vector<std::vector<int>> variables;  // per layout layer, per weight: store index

  int VariableIndex(const KerasCheckpointVariable& v) const {
    return variables[static_cast<size_t>(v.layer)][static_cast<size_t>(v.weight)];
  }
};

// The layout of `model` with `optimizer`'s variables (null: weights only).
// Optimizer slots exist for trainable variables only, as in tf.keras (not for
// a frozen layer's weights, nor for moving statistics). A functional model's
// layer-i numbering counts its InputLayer (tf-formats.md §3.2).
ModelLayout Layout(const model::Model& model, const storage::KerasOptimizerSpec* optimizer) {
  ModelLayout layout;
  std::vector<storage::KerasLayerSpec> specs;
  if (model::IsKerasFunctional(model)) {  // its InputLayer is layer-0
    specs.push_back({model.input_name(), {}});
    layout.variables.emplace_back();
  }
  for (const model::Model::Layer& layer : model.layers()) {
    storage::KerasLayerSpec spec{layer.name, {}};
    std::vector<int>& indices = layout.variables.emplace_back();
    for (const auto& [name, index] : model::KerasLayerVariables(layer)) {
      spec.weights.push_back(name);
      spec.trainable.push_back(model.parameters().variable(index).trainable);
      indices.push_back(index);
    }
    specs.push_back(std::move(spec));
  }
  layout.keras = storage::BuildKerasCheckpointLayout(specs, optimizer);
  return layout;
}

// Where variable `v` (a weight or an optimizer slot) lives in buffers laid
// out as the trainer's: `params` (the parameter layout) or `slots[v.slot]`
// (trainable variables only, at their trainable offset).
template <typename Float, typename SlotOf>
Float* VariableData(Float* params, SlotOf slot, const KerasCheckpointVariable& v,
                    const model::VariableInfo& info) {
  return v.kind == KerasCheckpointVariable::Kind::kWeight
             ? params + info.offset
             : slot(static_cast<size_t>(v.slot)) + info.trainable_offset;
}

// The key of the optimizer's iteration count ("iter", the first optimizer variable).
std::string IterationsKey(const model::Model& model, const optimizer::Optimizer& opt) {
  const storage::KerasOptimizerSpec spec = OptimizerSpec(opt.KerasV2());
  for (const KerasCheckpointVariable& v : Layout(model, &spec).keras.variables) {
    if (v.kind == KerasCheckpointVariable::Kind::kHyperParameter && v.hyper_parameter == 0) {
      return v.key;
    }
  }
  return "";
}

uint64_t Fnv1a64(const std::string& bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string ShapeString(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

std::vector<int64_t> EntryShape(const tf::BundleEntryProto& entry) {
  std::vector<int64_t> dims;
  for (const auto& dim : entry.shape().dim()) dims.push_back(dim.size());
  return dims;
}

// OK when the checkpoint has `key` with exactly `dtype` and `shape`.
Status CheckEntry(const storage::BundleReader& reader, const std::string& prefix,
                  const std::string& key, DType dtype, const std::vector<int64_t>& shape) {
  auto entry = reader.Entry(key);
  if (!entry.ok()) {
    return NotFoundError("checkpoint " + prefix + " has no tensor '" + key +
                         "' (was it written by a different model or optimizer?)");
  }
  std::vector<int64_t> saved = EntryShape(*entry);
  if (static_cast<DType>(entry->dtype()) != dtype || saved != shape) {
    return FailedPreconditionError(
        "checkpoint " + prefix + ": tensor '" + key + "' is " +
        std::string(DTypeName(static_cast<DType>(entry->dtype()))) + " " + ShapeString(saved) +
        " but the model has " + std::string(DTypeName(dtype)) + " " + ShapeString(shape));
  }
  return OkStatus();
}

// Reads `key` into `out` after checking its dtype and shape.
Status ReadChecked(const storage::BundleReader& reader, const std::string& prefix,
                   const std::string& key, DType dtype, const std::vector<int64_t>& shape,
                   void* out, size_t bytes) {
  RETURN_IF_ERROR(CheckEntry(reader, prefix, key, dtype, shape));
  return reader.Read(key, out, bytes);
}

template <typename T>
StatusOr<T> ReadScalar(const storage::BundleReader& reader, const std::string& prefix,
                       const char* name, DType dtype) {
  T value{};
  RETURN_IF_ERROR(ReadChecked(reader, prefix, StateKey(name), dtype, {}, &value, sizeof(T)));
  return value;
}

constexpr char kEpochMetricSums[] = "epoch_metric_sums";

// The epoch's running metric sums as float64 [n], only when there are some
// (a job with just "accuracy" has none, so its checkpoints keep their bytes).
void AppendEpochMetricSums(const std::vector<double>& sums, std::vector<SaveTensor>* out) {
  if (sums.empty()) return;
  SaveTensor t;
  t.key = StateKey(kEpochMetricSums);
  t.dtype = DType::kFloat64;
  t.shape = {static_cast<int64_t>(sums.size())};
  t.data = sums.data();
  t.bytes = sums.size() * sizeof(double);
  out->push_back(std::move(t));
}

// The saved metric sums; empty when the checkpoint has none (no metric with
// sums, an epoch boundary, or a checkpoint written before they were saved).
StatusOr<std::vector<double>> ReadEpochMetricSums(const storage::BundleReader& reader,
                                                  const std::string& prefix) {
  const std::string key = StateKey(kEpochMetricSums);
  std::vector<double> sums;
  auto entry = reader.Entry(key);
  if (!entry.ok()) return sums;
  const std::vector<int64_t> shape = EntryShape(*entry);
  if (static_cast<DType>(entry->dtype()) != DType::kFloat64 || shape.size() != 1) {
    return DataLossError("checkpoint " + prefix + ": '" + key + "' is " +
                         std::string(DTypeName(static_cast<DType>(entry->dtype()))) + " " +
                         ShapeString(shape) + ", expected float64 [n]");
  }
  // A damaged index may claim any shape: check it against the entry's bytes
  // and the data file before sizing a buffer from it.
  RETURN_IF_ERROR(reader.CheckInFile(key));
  sums.resize(static_cast<size_t>(shape[0]));
  RETURN_IF_ERROR(reader.Read(key, sums.data(), sums.size() * sizeof(double)));
  return sums;
}

constexpr char kDataStages[] = "data_stages";
// More stages than any real cursor has (one per world-size change in an epoch).
constexpr int64_t kMaxDataStages = 4096;

// The streamed data cursor as int64 [n, 2] rows of (world_size, steps), only
// when there is one (in-memory jobs and epoch boundaries keep their bytes).
void AppendDataStages(const std::vector<DataStage>& stages, std::vector<SaveTensor>* out) {
  if (stages.empty()) return;
  std::vector<int64_t> values;
  for (const DataStage& stage : stages) {
    values.insert(values.end(), {stage.world_size, stage.steps});
  }
  SaveTensor t;
  t.key = StateKey(kDataStages);
  t.dtype = DType::kInt64;
  t.shape = {static_cast<int64_t>(stages.size()), 2};
  t.owned.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  t.bytes = t.owned.size();
  out->push_back(std::move(t));
}

// The saved data cursor; empty when the checkpoint has none (in-memory data,
// an epoch boundary, or a checkpoint written before cursors were saved).
StatusOr<std::vector<DataStage>> ReadDataStages(const storage::BundleReader& reader,
                                                const std::string& prefix) {
  const std::string key = StateKey(kDataStages);
  std::vector<DataStage> stages;
  auto entry = reader.Entry(key);
  if (!entry.ok()) return stages;
  const std::vector<int64_t> shape = EntryShape(*entry);
  if (static_cast<DType>(entry->dtype()) != DType::kInt64 || shape.size() != 2 || shape[1] != 2) {
    return DataLossError("checkpoint " + prefix + ": '" + key + "' is " +
                         std::string(DTypeName(static_cast<DType>(entry->dtype()))) + " " +
                         ShapeString(shape) + ", expected int64 [n, 2]");
  }
  if (shape[0] < 0 || shape[0] > kMaxDataStages) {
    return DataLossError("checkpoint " + prefix + ": '" + key + "' has " +
                         std::to_string(shape[0]) + " stages, expected 0 to " +
                         std::to_string(kMaxDataStages));
  }
  RETURN_IF_ERROR(reader.CheckInFile(key));  // the shape matches the entry's bytes
  std::vector<int64_t> values(static_cast<size_t>(shape[0] * 2));
  RETURN_IF_ERROR(reader.Read(key, values.data(), values.size() * sizeof(int64_t)));
  for (size_t i = 0; i < values.size(); i += 2) {
    if (values[i] < 0 || values[i] > std::numeric_limits<int32_t>::max() || values[i + 1] < 0) {
      return DataLossError("checkpoint " + prefix + ": '" + key + "' row " +
                           std::to_string(i / 2) + " is (" + std::to_string(values[i]) + ", " +
                           std::to_string(values[i + 1]) +
                           "), expected a world size and a step count");
    }
    stages.push_back(DataStage{static_cast<int32_t>(values[i]), values[i + 1]});
  }
  return stages;
}

constexpr char kCallbackStatePrefix[] = "_SHARDTRAIN_STATE/callbacks/";

// The callbacks' state as tensors: scalars as float64 [], vectors as float32
// [n] (their data borrowed from `state`).
void AppendCallbackState(const callbacks::CallbackState& state, std::vector<SaveTensor>* out) {
  for (const auto& [name, value] : state.scalars) {
    out->push_back(Scalar<double>(kCallbackStatePrefix + name, DType::kFloat64, value));
  }
  for (const auto& [name, values] : state.vectors) {
    SaveTensor t;
    t.key = kCallbackStatePrefix + name;
    t.shape = {static_cast<int64_t>(values.size())};
    t.data = values.data();
    t.bytes = values.size() * sizeof(float);
    out->push_back(std::move(t));
  }
}

// Every `_SHARDTRAIN_STATE/callbacks/` tensor of the checkpoint (none in one
// written without stateful callbacks). DataLoss for another dtype or shape.
StatusOr<callbacks::CallbackState> ReadCallbackState(const storage::BundleReader& reader,
                                                     const std::string& prefix) {
  callbacks::CallbackState state;
  const std::string key_prefix = kCallbackStatePrefix;
  for (const std::string& key : reader.Keys()) {
    if (key.compare(0, key_prefix.size(), key_prefix) != 0) continue;
    const std::string name = key.substr(key_prefix.size());
    ASSIGN_OR_RETURN(tf::BundleEntryProto entry, reader.Entry(key));
    const std::vector<int64_t> shape = EntryShape(entry);
    const DType dtype = static_cast<DType>(entry.dtype());
    if (dtype == DType::kFloat64 && shape.empty()) {
      double value = 0;
      RETURN_IF_ERROR(reader.Read(key, &value, sizeof(value)));
      state.scalars[name] = value;
    } else if (dtype == DType::kFloat32 && shape.size() == 1) {
      std::vector<float>& values = state.vectors[name];
      values.resize(static_cast<size_t>(shape[0]));
      RETURN_IF_ERROR(reader.Read(key, values.data(), values.size() * sizeof(float)));
    } else {
      return DataLossError("checkpoint " + prefix + ": callback state '" + key + "' is " +
                           std::string(DTypeName(dtype)) + " " + ShapeString(shape) +
                           ", expected float64 [] or float32 [n]");
    }
  }
  return state;
}

}  // namespace

config::JobConfig TrajectoryConfig(const config::JobConfig& config) {
  config::JobConfig relevant;
  *relevant.mutable_model() = config.model();
  *relevant.mutable_optimizer() = config.optimizer();
  *relevant.mutable_loss() = config.loss();
  *relevant.mutable_metrics() = config.metrics();
  relevant.mutable_data()->set_train_examples(config.data().train_examples());
  relevant.mutable_data()->set_num_classes(config.data().num_classes());
  // The feature spec as written (unset stays unset, so checkpoints of jobs
  // without one keep their hash).
  *relevant.mutable_data()->mutable_features() = config.data().features();
  if (config.data().has_label()) *relevant.mutable_data()->mutable_label() = config.data().label();
  // How the data is read and mixed (not reader_threads: the stream is the
  // same with any number of readers).
  relevant.mutable_data()->set_in_memory(config.data().in_memory());
  relevant.mutable_data()->set_shuffle_buffer(config.data().shuffle_buffer());
  relevant.mutable_data()->set_shard_records(config.data().shard_records());
  relevant.mutable_training()->set_batch_size(config.training().batch_size());
  relevant.mutable_training()->set_seed(config.training().seed());
  relevant.mutable_training()->set_shuffle(config.training().shuffle());
  *relevant.mutable_training()->mutable_class_weight() = config.training().class_weight();
  relevant.mutable_training()->set_validation_split(config.training().validation_split());
  if (config.callbacks().has_reduce_lr_on_plateau()) {
    *relevant.mutable_callbacks()->mutable_reduce_lr_on_plateau() =
        config.callbacks().reduce_lr_on_plateau();
  }
  return relevant;
}

std::string TrajectoryConfigHash(const config::JobConfig& config) {
  const config::JobConfig relevant = TrajectoryConfig(config);
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.PrintToString(relevant, &text);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(Fnv1a64(text)));
  return hex;
}

StatusOr<std::vector<SaveTensor>> GatherCheckpointTensors(Trainer& trainer,
                                                          const config::JobConfig& config,
                                                          const SavedState& state,
                                                          std::shared_ptr<HostSnapshot> snapshot) {
  model::Model& model = trainer.model();
  optimizer::Optimizer& opt = trainer.optimizer();
  const optimizer::Optimizer::KerasVariables keras = opt.KerasV2();
  const storage::KerasOptimizerSpec optimizer_spec = OptimizerSpec(keras);
  const ModelLayout layout = Layout(model, state.weights_only ? nullptr : &optimizer_spec);

  model::ParameterStore& params = model.parameters();
  // Where the host cannot read the variables in place, one copy of each
  // buffer now; the tensors point into it.
  const bool params_in_place = params.backend()->host_reads_device_memory();
  const bool slots_in_place = state.weights_only || opt.slots_host_readable();
  if (!params_in_place || !slots_in_place) {
    if (snapshot == nullptr) snapshot = std::make_shared<HostSnapshot>();
    RETURN_IF_ERROR(snapshot->Take(params, state.weights_only ? nullptr : &opt));
  }
  const float* weights = params_in_place ? params.params() : snapshot->params();
  auto slot = [&](size_t index) -> const float* {
    return slots_in_place ? opt.slot_data(index) : snapshot->slot(index);
  };

  std::vector<SaveTensor> tensors;
  for (const KerasCheckpointVariable& v : layout.keras.variables) {
    switch (v.kind) {
      case KerasCheckpointVariable::Kind::kWeight:
      case KerasCheckpointVariable::Kind::kSlot: {
        const model::VariableInfo& info = params.variable(layout.VariableIndex(v));
        SaveTensor t;
        t.key = v.key;
        t.dtype = DType::kFloat32;
        t.shape = info.shape.dims();
        t.data = VariableData(weights, slot, v, info);
        t.bytes = static_cast<size_t>(info.shape.num_elements()) * sizeof(float);
        const bool in_place =
            v.kind == KerasCheckpointVariable::Kind::kWeight ? params_in_place : slots_in_place;
        if (!in_place) t.snapshot = snapshot;
        tensors.push_back(std::move(t));
        break;
      }
      case KerasCheckpointVariable::Kind::kHyperParameter:
        if (v.hyper_parameter == 0) {  // iter
          tensors.push_back(Scalar<int64_t>(v.key, DType::kInt64, opt.iterations()));
        } else {
          float value = keras.hyper[static_cast<size_t>(v.hyper_parameter - 1)].second;
          tensors.push_back(Scalar<float>(v.key, DType::kFloat32, value));
        }
        break;
    }
  }
  tensors.push_back(String(storage::kObjectGraphKey, layout.keras.graph.SerializeAsString()));

  const TrainingProgress& p = state.progress;
  tensors.push_back(Scalar<int64_t>(StateKey("epoch"), DType::kInt64, p.epoch));
  tensors.push_back(Scalar<int64_t>(StateKey("position"), DType::kInt64, p.position));
  tensors.push_back(Scalar<int64_t>(StateKey("global_step"), DType::kInt64, p.global_step));
  tensors.push_back(Scalar<double>(StateKey("epoch_loss_sum"), DType::kFloat64, p.epoch_loss_sum));
  tensors.push_back(Scalar<int64_t>(StateKey("epoch_correct"), DType::kInt64, p.epoch_correct));
  tensors.push_back(Scalar<int64_t>(StateKey("epoch_examples"), DType::kInt64, p.epoch_examples));
  AppendEpochMetricSums(p.epoch_metric_sums, &tensors);
  AppendDataStages(p.data_stages, &tensors);
  tensors.push_back(Scalar<uint64_t>(StateKey("seed"), DType::kUInt64, config.training().seed()));
  tensors.push_back(Scalar<double>(StateKey("best_value"), DType::kFloat64, state.best_value));
  tensors.push_back(Scalar<bool>(StateKey("has_best"), DType::kBool, state.has_best));
  tensors.push_back(Scalar<bool>(StateKey("weights_only"), DType::kBool, state.weights_only));
  tensors.push_back(String(StateKey("config_hash"), state.config_hash));
  AppendCallbackState(trainer.callback_state(), &tensors);
  std::string config_text;
  google::protobuf::TextFormat::PrintToString(config, &config_text);
  tensors.push_back(String(StateKey("config"), std::move(config_text)));
  for (SaveTensor& t : tensors) {
    if (!t.owned.empty()) t.data = t.owned.data();
  }
  return tensors;
}

StatusOr<std::vector<RestoreTarget>> CheckedRestoreTargets(const storage::BundleReader& reader,
                                                           const std::string& prefix,
                                                           Trainer& trainer, bool weights_only,
                                                           HostSnapshot* staging) {
  model::Model& model = trainer.model();
  optimizer::Optimizer& opt = trainer.optimizer();
  const storage::KerasOptimizerSpec optimizer_spec = OptimizerSpec(opt.KerasV2());
  const ModelLayout layout = Layout(model, weights_only ? nullptr : &optimizer_spec);
  model::ParameterStore& params = model.parameters();
  std::vector<const KerasCheckpointVariable*> variables;
  for (const KerasCheckpointVariable& v : layout.keras.variables) {
    if (v.kind == KerasCheckpointVariable::Kind::kHyperParameter) continue;
    const model::VariableInfo& info = params.variable(layout.VariableIndex(v));
    RETURN_IF_ERROR(CheckEntry(reader, prefix, v.key, DType::kFloat32, info.shape.dims()));
    variables.push_back(&v);
  }
  RETURN_IF_ERROR(staging->Take(params, weights_only ? nullptr : &opt)
                      .WithContext("staging a restore of checkpoint " + prefix));
  const bool params_in_place = params.backend()->host_reads_device_memory();
  const bool slots_in_place = weights_only || opt.slots_host_readable();
  float* weights = params_in_place ? params.params() : staging->params();
  auto slot = [&](size_t index) -> float* {
    return slots_in_place ? opt.slot_data(index) : staging->slot(index);
  };
  std::vector<RestoreTarget> targets;
  for (const KerasCheckpointVariable* v : variables) {
    const model::VariableInfo& info = params.variable(layout.VariableIndex(*v));
    targets.push_back({v->key, VariableData(weights, slot, *v, info),
                       static_cast<size_t>(info.shape.num_elements()) * sizeof(float)});
  }
  return targets;
}

Status FinishRestore(const SavedState& state, const HostSnapshot& staging, Trainer& trainer) {
  constexpr char kPartly[] = " (the device state is partly restored)";
  optimizer::Optimizer& opt = trainer.optimizer();
  if (staging.params() != nullptr) {
    RETURN_IF_ERROR(trainer.model()
                        .parameters()
                        .CopyParamsFromHost(staging.params())
                        .WithContext(std::string("copying the restored parameters to the device") +
                                     kPartly));
  }
  for (size_t i = 0; i < staging.num_slots(); ++i) {
    RETURN_IF_ERROR(opt.CopySlotFromHost(i, 0, opt.slot_size(), staging.slot(i))
                        .WithContext("copying the restored optimizer slot " +
                                     opt.slot_names()[i] + " to the device" + kPartly));
  }
  // The optimizer starts afresh after a weights-only checkpoint (whatever an
  // earlier, failed restore left in it); the data position and step resume.
  opt.set_iterations(state.iterations);
  if (state.weights_only) opt.ZeroSlots();
  return OkStatus();
}

StatusOr<SavedState> RestoreCheckpoint(const storage::BundleReader& reader,
                                       const std::string& prefix, Trainer& trainer,
                                       RestoreScope scope) {
  SavedState state;
  ASSIGN_OR_RETURN(state.weights_only,
                   ReadScalar<bool>(reader, prefix, "weights_only", DType::kBool));
  if (!state.weights_only) {
    optimizer::Optimizer& opt = trainer.optimizer();
    RETURN_IF_ERROR(ReadChecked(reader, prefix, IterationsKey(trainer.model(), opt), DType::kInt64,
                                {}, &state.iterations, sizeof(state.iterations)));
  }
  TrainingProgress& p = state.progress;
  ASSIGN_OR_RETURN(p.epoch, ReadScalar<int64_t>(reader, prefix, "epoch", DType::kInt64));
  ASSIGN_OR_RETURN(p.position, ReadScalar<int64_t>(reader, prefix, "position", DType::kInt64));
  ASSIGN_OR_RETURN(p.global_step,
                   ReadScalar<int64_t>(reader, prefix, "global_step", DType::kInt64));
  ASSIGN_OR_RETURN(p.epoch_loss_sum,
                   ReadScalar<double>(reader, prefix, "epoch_loss_sum", DType::kFloat64));
  ASSIGN_OR_RETURN(p.epoch_correct,
                   ReadScalar<int64_t>(reader, prefix, "epoch_correct", DType::kInt64));
  ASSIGN_OR_RETURN(p.epoch_examples,
                   ReadScalar<int64_t>(reader, prefix, "epoch_examples", DType::kInt64));
  ASSIGN_OR_RETURN(p.epoch_metric_sums, ReadEpochMetricSums(reader, prefix));
  ASSIGN_OR_RETURN(p.data_stages, ReadDataStages(reader, prefix));
  ASSIGN_OR_RETURN(state.best_value,
                   ReadScalar<double>(reader, prefix, "best_value", DType::kFloat64));
  ASSIGN_OR_RETURN(state.has_best, ReadScalar<bool>(reader, prefix, "has_best", DType::kBool));
  ASSIGN_OR_RETURN(std::vector<std::string> hash, reader.ReadStrings(StateKey("config_hash")));
  if (hash.size() != 1) {
    return DataLossError("checkpoint " + prefix + ": " + StateKey("config_hash") +
                         " is not a scalar string");
  }
  state.config_hash = hash[0];
  ASSIGN_OR_RETURN(state.callbacks, ReadCallbackState(reader, prefix));
  if (scope == RestoreScope::kStateOnly) return state;

  HostSnapshot staging;
  ASSIGN_OR_RETURN(std::vector<RestoreTarget> targets,
                   CheckedRestoreTargets(reader, prefix, trainer, state.weights_only, &staging));
  for (const RestoreTarget& target : targets) {
    RETURN_IF_ERROR(reader.Read(target.key, target.data, target.bytes));
  }
  RETURN_IF_ERROR(FinishRestore(state, staging, trainer));
  return state;
}

std::vector<int> AssignTensorsToRanks(const std::vector<size_t>& bytes, int world_size) {
  std::vector<size_t> order(bytes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bytes[a] > bytes[b]; });
  std::vector<size_t> load(static_cast<size_t>(world_size), 0);
  std::vector<int> rank_of(bytes.size(), 0);
  for (size_t index : order) {
    size_t best = static_cast<size_t>(
        std::min_element(load.begin(), load.end()) - load.begin());  // first minimum
    rank_of[index] = static_cast<int>(best);
    load[best] += std::max<size_t>(bytes[index], 1);
  }
  return rank_of;
}

}  // namespace shardtrain::checkpoint
