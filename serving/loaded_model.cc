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

}  // namespace

StatusOr<std::unique_ptr<LoadedModel>> LoadedModel::Load(const std::string& export_dir) {
  storage::FileSystem* fs = storage::PosixFileSystem();
  const std::string pb_path = storage::JoinPath(export_dir, "saved_model.pb");
  if (!fs->FileExists(pb_path)) {
    return NotFoundError("no SavedModel in " + export_dir + ": " + pb_path + " does not exist");
  }
  ASSIGN_OR_RETURN(std::string bytes, fs->ReadFile(pb_path));
  tf::SavedModel saved_model;
  if (!saved_model.ParseFromString(bytes)) {
    return DataLossError(pb_path + " is not a SavedModel protobuf (damaged or truncated?)");
  }
  const tf::MetaGraphDef* meta_graph = nullptr;
  std::string tag_sets;
  for (const tf::MetaGraphDef& candidate : saved_model.meta_graphs()) {
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
  std::unique_ptr<LoadedModel> model(new LoadedModel());
  model->export_dir_ = export_dir;
  ASSIGN_OR_RETURN(model->executor_, GraphExecutor::Create(meta_graph->graph_def()));
  GraphExecutor& executor = *model->executor_;

  // Restore the variables (spec §4.2 step 4).
  const tf::SaverDef& saver = meta_graph->saver_def();
  const std::string variables = storage::JoinPath(export_dir, "variables/variables");
  if (fs->FileExists(variables + ".index") && !saver.restore_op_name().empty()) {
    auto unsupported = executor.UnsupportedOps({saver.restore_op_name()});
    if (!unsupported.empty()) {
      return FailedPreconditionError(export_dir + ": restoring the variables needs unsupported op(s) " +
                                     Join(unsupported));
    }
    auto restored = executor.Run({{saver.filename_tensor_name(), Tensor::String(variables)}}, {},
                                 {saver.restore_op_name()}, &model->variables_);
    if (!restored.ok()) return restored.status().WithContext("restoring " + variables);
  }
  // The init op (step 5).
  std::string init_op;
  auto init_signature = meta_graph->signature_def().find(kInitOpSignature);
  if (init_signature != meta_graph->signature_def().end() &&
      !init_signature->second.outputs().empty()) {
    init_op = init_signature->second.outputs().begin()->second.name();
  } else {
    for (const char* collection : {"saved_model_main_op", "legacy_init_op"}) {
      auto found = meta_graph->collection_def().find(collection);
      if (found != meta_graph->collection_def().end() &&
          found->second.node_list().value_size() == 1) {
        init_op = found->second.node_list().value(0);
        break;
      }
    }
  }
  if (!init_op.empty()) {
    auto unsupported = executor.UnsupportedOps({init_op});
    if (!unsupported.empty()) {
      return FailedPreconditionError(export_dir + ": the init op needs unsupported op(s) " +
                                     Join(unsupported));
    }
    auto ran = executor.Run({}, {}, {init_op}, &model->variables_);
    if (!ran.ok()) return ran.status().WithContext("running the init op " + init_op);
  }
  // Signatures the runtime can serve.
  std::string first_problem;
  for (const auto& [key, signature] : meta_graph->signature_def()) {
    if (key == kInitOpSignature) continue;
    model->all_signatures_[key] = signature;
    std::vector<std::string> roots, fed;
    for (const auto& [name, info] : signature.outputs()) roots.push_back(info.name());
    for (const auto& [name, info] : signature.inputs()) fed.push_back(info.name());
    auto unsupported = executor.UnsupportedOps(roots, fed);
    if (unsupported.empty()) {
      model->signatures_[key] = signature;
    } else {
      model->unavailable_[key] = "uses unsupported op " + Join(unsupported);
      if (first_problem.empty() || key == "serving_default") {
        first_problem = "signature '" + key + "' " + model->unavailable_[key];
      }
    }
  }
  if (model->signatures_.empty()) {
    return FailedPreconditionError(export_dir + ": no signature can be served; " +
                                   (first_problem.empty() ? "the model has none" : first_problem));
  }
  return model;
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
