#include "serving/loaded_model.h"

#include <fstream>
#include <set>
#include <sstream>

#include "storage/io/file_system.h"

namespace shardtrain::serving {
namespace {

constexpr char kInitOpSignature[] = "__saved_model_init_op";

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The MetaGraphDef of export_dir/saved_model.pb tagged exactly {"serve"}
// (the first such one).
StatusOr<tf::MetaGraphDef> ReadServeMetaGraph(storage::FileSystem* fs,
                                              const std::string& export_dir) {
  const std::string pb_path = storage::JoinPath(export_dir, "saved_model.pb");
  if (!fs->FileExists(pb_path)) {
    return NotFoundError("no SavedModel in " + export_dir + ": " + pb_path + " does not exist");
  }
  ASSIGN_OR_RETURN(std::string bytes, fs->ReadFile(pb_path));
  tf::SavedModel saved_model;
  if (!saved_model.ParseFromString(bytes)) {
    return DataLossError(pb_path + " is not a SavedModel protobuf (damaged or truncated?)");
  }
  tf::MetaGraphDef* meta_graph = nullptr;
  std::string tag_sets;
  for (tf::MetaGraphDef& candidate : *saved_model.mutable_meta_graphs()) {
    std::set<std::string> tags(candidate.meta_info_def().tags().begin(),
                               candidate.meta_info_def().tags().end());
    tag_sets += (tag_sets.empty() ? "" : ", ") + std::string("{") +
                Join(std::vector<std::string>(tags.begin(), tags.end())) + "}";
    if (tags == std::set<std::string>{"serve"} && meta_graph == nullptr) meta_graph = &candidate;
  }
  if (meta_graph == nullptr) {
    return FailedPreconditionError(export_dir + " has no MetaGraphDef tagged {serve} (it has " +
                                   (tag_sets.empty() ? std::string("none") : tag_sets) + ")");
  }
  return std::move(*meta_graph);
}

// The init op's node name: the __saved_model_init_op signature's output, else
// the one node of the saved_model_main_op or legacy_init_op collection; empty
// when the graph has none.
std::string InitOpName(const tf::MetaGraphDef& meta_graph) {
  auto init_signature = meta_graph.signature_def().find(kInitOpSignature);
  if (init_signature != meta_graph.signature_def().end() &&
      !init_signature->second.outputs().empty()) {
    return init_signature->second.outputs().begin()->second.name();
  }
  for (const char* collection : {"saved_model_main_op", "legacy_init_op"}) {
    auto found = meta_graph.collection_def().find(collection);
    if (found != meta_graph.collection_def().end() && found->second.node_list().value_size() == 1) {
      return found->second.node_list().value(0);
    }
  }
  return "";
}

// Spec §4.2 step 4 runs saver_def.restore_op_name; without one (TF: no
// saver_def) there is nothing to restore.
bool HasRestoreOp(const tf::SaverDef& saver) { return !saver.restore_op_name().empty(); }

}  // namespace

StatusOr<std::unique_ptr<LoadedModel>> LoadedModel::Load(const std::string& export_dir) {
  return Load(export_dir, kernels::CreateCpuBackend());
}

StatusOr<std::unique_ptr<LoadedModel>> LoadedModel::Load(
    const std::string& export_dir, std::unique_ptr<kernels::KernelBackend> backend) {
  storage::FileSystem* fs = storage::PosixFileSystem();
  ASSIGN_OR_RETURN(tf::MetaGraphDef meta_graph, ReadServeMetaGraph(fs, export_dir));
  std::unique_ptr<LoadedModel> model(new LoadedModel());
  model->export_dir_ = export_dir;
  ASSIGN_OR_RETURN(model->executor_,
                   GraphExecutor::Create(meta_graph.graph_def(), std::move(backend)));
  RETURN_IF_ERROR(model->RestoreVariables(fs, meta_graph.saver_def()));
  RETURN_IF_ERROR(model->RunInitOp(InitOpName(meta_graph)));
  RETURN_IF_ERROR(model->SelectSignatures(meta_graph));
  return model;
}

StatusOr<bool> LoadedModel::RestoresVariables(const std::string& export_dir) {
  ASSIGN_OR_RETURN(tf::MetaGraphDef meta_graph,
                   ReadServeMetaGraph(storage::PosixFileSystem(), export_dir));
  return HasRestoreOp(meta_graph.saver_def());
}

Status LoadedModel::RunLoadOp(const std::string& target, const std::map<std::string, Tensor>& feeds,
                              const std::string& what, const std::string& context) {
  auto unsupported = executor_->UnsupportedOps({target});
  if (!unsupported.empty()) {
    return FailedPreconditionError(export_dir_ + ": " + what + " needs unsupported op(s) " +
                                   Join(unsupported));
  }
  auto ran = executor_->Run(feeds, {}, {target}, &variables_);
  if (!ran.ok()) return ran.status().WithContext(context);
  return OkStatus();
}

// Spec §4.2 step 4: run the saver's restore op on variables/variables, when
// both exist.
Status LoadedModel::RestoreVariables(storage::FileSystem* fs, const tf::SaverDef& saver) {
  const std::string variables = storage::JoinPath(export_dir_, "variables/variables");
  if (!fs->FileExists(variables + ".index") || !HasRestoreOp(saver)) return OkStatus();
  return RunLoadOp(saver.restore_op_name(),
                   {{saver.filename_tensor_name(), Tensor::String(variables)}},
                   "restoring the variables", "restoring " + variables);
}

// Spec §4.2 step 5: run the init op, if any.
Status LoadedModel::RunInitOp(const std::string& init_op) {
  if (init_op.empty()) return OkStatus();
  return RunLoadOp(init_op, {}, "the init op", "running the init op " + init_op);
}

// Keeps every signature in all_signatures_; those the runtime can run go to
// signatures_, the others to unavailable_ with the reason. Fails when none
// can run, naming serving_default's problem when it has one.
Status LoadedModel::SelectSignatures(const tf::MetaGraphDef& meta_graph) {
  std::string first_problem;
  for (const auto& [key, signature] : meta_graph.signature_def()) {
    if (key == kInitOpSignature) continue;
    all_signatures_[key] = signature;
    std::vector<std::string> roots, fed;
    for (const auto& [name, info] : signature.outputs()) roots.push_back(info.name());
    for (const auto& [name, info] : signature.inputs()) fed.push_back(info.name());
    auto unsupported = executor_->UnsupportedOps(roots, fed);
    if (unsupported.empty()) {
      signatures_[key] = signature;
    } else {
      unavailable_[key] = "uses unsupported op " + Join(unsupported);
      if (first_problem.empty() || key == "serving_default") {
        first_problem = "signature '" + key + "' " + unavailable_[key];
      }
    }
  }
  if (signatures_.empty()) {
    return FailedPreconditionError(export_dir_ + ": no signature can be served; " +
                                   (first_problem.empty() ? "the model has none" : first_problem));
  }
  return OkStatus();
}

StatusOr<const tf::SignatureDef*> LoadedModel::Signature(const std::string& key) const {
  auto found = signatures_.find(key);
  if (found != signatures_.end()) return &found->second;
  auto unavailable = unavailable_.find(key);
  if (unavailable != unavailable_.end()) {
    return FailedPreconditionError("signature '" + key + "' " + unavailable->second);
  }
  return InvalidArgumentError("Serving signature name: \"" + key + "\" not found in signature def");
}

StatusOr<std::map<std::string, Tensor>> LoadedModel::Run(
    const std::string& signature_key, const std::map<std::string, Tensor>& inputs) const {
  auto found = signatures_.find(signature_key);
  if (found == signatures_.end()) {
    auto unavailable = unavailable_.find(signature_key);
    if (unavailable != unavailable_.end()) {
      return FailedPreconditionError("signature '" + signature_key + "' " + unavailable->second);
    }
    std::string known;
    for (const auto& [key, s] : signatures_) known += (known.empty() ? "" : ", ") + key;
    return NotFoundError("no signature '" + signature_key + "' (the model has: " + known + ")");
  }
  const tf::SignatureDef& signature = found->second;
  std::map<std::string, Tensor> feeds;
  for (const auto& [name, tensor] : inputs) {
    auto input = signature.inputs().find(name);
    if (input == signature.inputs().end()) {
      return InvalidArgumentError("signature '" + signature_key + "' has no input '" + name + "'");
    }
    if (input->second.dtype() != static_cast<tf::DataType>(tensor.dtype)) {
      return InvalidArgumentError("input '" + name + "' must be of dtype " +
                                  std::to_string(input->second.dtype()) + ", got " +
                                  std::to_string(static_cast<int>(tensor.dtype)));
    }
    feeds[input->second.name()] = tensor;
  }
  for (const auto& [name, info] : signature.inputs()) {
    if (inputs.count(name) == 0) {
      return InvalidArgumentError("signature '" + signature_key + "' needs input '" + name + "'");
    }
  }
  std::vector<std::string> fetches, keys;
  for (const auto& [name, info] : signature.outputs()) {
    keys.push_back(name);
    fetches.push_back(info.name());
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> values, executor_->Run(feeds, fetches, {}, &variables_));
  std::map<std::string, Tensor> out;
  for (size_t k = 0; k < keys.size(); ++k) out[keys[k]] = std::move(values[k]);
  return out;
}

}  // namespace shardtrain::serving
