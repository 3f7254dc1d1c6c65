// LoadedModel: a SavedModel loaded for serving (shared/spec/tf-formats.md
// §4.2): the MetaGraphDef tagged exactly {"serve"}, its variables restored
// through saver_def (RestoreV2 from variables/variables), its init op run,
// and its signatures ready to Run().
//
// Signatures whose subgraph needs an op the runtime lacks are left out and
// listed in unavailable_signatures(); when no signature is usable, or the
// restore/init path needs such an op, Load fails naming the op and node.
// TF2 function graphs (StatefulPartitionedCall) are refused that way.
// Thread-safety: Run() may be called concurrently.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "proto/tf/saved_model.pb.h"
#include "serving/graph_executor.h"
#include "serving/tensor.h"

namespace shardtrain::storage {
class FileSystem;
}  // namespace shardtrain::storage

namespace shardtrain::serving {

class LoadedModel {
 public:
  // NotFound without saved_model.pb; DataLoss when it does not parse;
  // FailedPrecondition for no "serve" graph or an unsupported op (named).
  static StatusOr<std::unique_ptr<LoadedModel>> Load(const std::string& export_dir);
  // The same, its graph run on `backend` (owned; GraphExecutor::Create).
  static StatusOr<std::unique_ptr<LoadedModel>> Load(
      const std::string& export_dir, std::unique_ptr<kernels::KernelBackend> backend);
  // Whether Load restores variables from export_dir/variables/variables: its
  // {serve} graph has a saver_def with a restore op (TF's loader.cc
  // RestoreSession calls RunRestore only when meta_graph.has_saver_def(); a
  // graph without variables, e.g. a frozen constant-only graph re-exported
  // with SavedModelBuilder, has none). Load's errors for a saved_model.pb
  // that is missing, does not parse or has no {serve} graph.
  static StatusOr<bool> RestoresVariables(const std::string& export_dir);

  const std::string& export_dir() const { return export_dir_; }
  // The usable signatures by key (serving_default, ...).
  const std::map<std::string, tf::SignatureDef>& signatures() const { return signatures_; }
  // Every signature of the MetaGraphDef (the metadata endpoint lists them all).
  const std::map<std::string, tf::SignatureDef>& all_signatures() const { return all_signatures_; }
  // Signature key → why it cannot run ("uses unsupported op ParseExampleV2 (node 'x')").
  const std::map<std::string, std::string>& unavailable_signatures() const { return unavailable_; }
  // The usable signature `key`, as the REST endpoints look it up:
  // FailedPrecondition naming why when it is unavailable, else InvalidArgument
  // ("Serving signature name: ... not found in signature def").
  StatusOr<const tf::SignatureDef*> Signature(const std::string& key) const;

  // Runs `signature` with inputs keyed by the signature's input names;
  // returns outputs keyed by its output names. NotFound for an unknown
  // signature, InvalidArgument for a missing or unknown input, or an op's
  // shape error (naming node and shapes).
  StatusOr<std::map<std::string, Tensor>> Run(const std::string& signature,
                                              const std::map<std::string, Tensor>& inputs) const;

 private:
  LoadedModel() = default;
  Status RestoreVariables(storage::FileSystem* fs, const tf::SaverDef& saver);
  Status RunInitOp(const std::string& init_op);
  // Runs the load-time op `target` on variables_ with `feeds`. FailedPrecondition
  // "<export_dir>: <what> needs unsupported op(s) ..." when the runtime lacks
  // one of its ops; a failed run's error gets `context`.
  Status RunLoadOp(const std::string& target, const std::map<std::string, Tensor>& feeds,
                   const std::string& what, const std::string& context);
  Status SelectSignatures(const tf::MetaGraphDef& meta_graph);

  std::string export_dir_;
  std::unique_ptr<GraphExecutor> executor_;
  mutable VariableStore variables_;
  std::map<std::string, tf::SignatureDef> signatures_;
  std::map<std::string, tf::SignatureDef> all_signatures_;
  std::map<std::string, std::string> unavailable_;
};

}  // namespace shardtrain::serving
