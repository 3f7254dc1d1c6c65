// GraphExecutor: runs a TensorFlow GraphDef (TF1 style) on the CPU for
// serving: evaluates only the nodes the requested fetches and targets need,
// once each per run. The supported ops are those SupportedOps() lists: the
// keys of the one op table (op name -> kernel) in graph_executor.cc. Like TF
// Serving, a feed whose shape differs from the placeholder's declared shape is
// accepted; each op checks the shapes it needs and its error names the node
// and the shapes.
//
// Variables (resource and TF1 reference variables alike) live in a
// VariableStore shared by the runs of one loaded model.
//
// Backend: the compute ops (MatMul, the activations, Conv2D, pooling, Mean,
// FusedBatchNormV3, ConcatV2) run on the executor's KernelBackend, the CPU
// backend unless Create is given another. Tensors stay host objects: on a
// backend the host cannot read (CUDA, the strict device) each such op copies
// its inputs to device buffers, runs there and copies its output back
// (serving/staged_call.h), with the CPU's results; a failed allocation, copy
// or op is an error naming the node. Elementwise arithmetic, Erf and the
// other ops are host code on every backend.
// Thread-safety: Run() is const and may be called concurrently; the
// VariableStore locks itself; device ops of concurrent runs take turns on the
// backend (one mutex), CPU ones run in parallel as before.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/tf/graph.pb.h"
#include "serving/tensor.h"

namespace shardtrain::serving {

// Values are shared immutable tensors: reads hand out the stored pointer (no
// copy of the weights per request); writes replace it.
using TensorPtr = std::shared_ptr<const Tensor>;

class VariableStore {
 public:
  Status Assign(const std::string& name, TensorPtr value);
  // FailedPrecondition "variable 'x' is not initialized" before the first Assign.
  StatusOr<TensorPtr> Read(const std::string& name) const;
  // value += delta (same dtype and element count); returns the new value.
  StatusOr<TensorPtr> AssignAdd(const std::string& name, const Tensor& delta);

 private:
  mutable std::mutex mutex_;
  std::map<std::string, TensorPtr> values_;
};

class GraphExecutor {
 public:
  // InvalidArgument for duplicate node names or inputs naming missing nodes.
  // Runs on a CPU backend of its own.
  static StatusOr<std::unique_ptr<GraphExecutor>> Create(const tf::GraphDef& graph);
  // The same on `backend` (owned); InvalidArgument when it is null.
  static StatusOr<std::unique_ptr<GraphExecutor>> Create(
      const tf::GraphDef& graph, std::unique_ptr<kernels::KernelBackend> backend);

  // The op names this runtime implements, sorted.
  static std::vector<std::string> SupportedOps();

  // "Op (node 'name')" for every node reachable from `roots` (tensor or node
  // names, "^node" allowed) whose op the runtime does not implement; the
  // walk stops at `fed` tensors (their producers never run).
  std::vector<std::string> UnsupportedOps(const std::vector<std::string>& roots,
                                          const std::vector<std::string>& fed = {}) const;

  // Feeds are keyed by tensor name ("x:0"; "x" means "x:0"). Returns the
  // fetched tensors in order; `targets` (node names) run for their effects.
  StatusOr<std::vector<Tensor>> Run(const std::map<std::string, Tensor>& feeds,
                                    const std::vector<std::string>& fetches,
                                    const std::vector<std::string>& targets,
                                    VariableStore* variables) const;

  bool HasNode(const std::string& name) const { return nodes_.count(name) > 0; }
  const kernels::KernelBackend& backend() const { return *backend_; }

 private:
  class RunState;
  GraphExecutor() = default;
  // Held while an op uses a backend the host cannot read (not thread-safe);
  // an empty lock on a host-readable one.
  std::unique_lock<std::mutex> LockDevice() const;

  std::unordered_map<std::string, tf::NodeDef> nodes_;
  std::unordered_map<std::string, TensorPtr> constants_;  // Const nodes, decoded once
  std::unique_ptr<kernels::KernelBackend> backend_;
  mutable std::mutex device_mutex_;
};

// "node:k" → {"node", k}; "node" → {"node", 0}; "^node" → {"node", -1}.
std::pair<std::string, int> ParseTensorName(const std::string& name);

}  // namespace shardtrain::serving
