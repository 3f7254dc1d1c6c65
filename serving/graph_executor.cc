#include "serving/graph_executor.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/philox.h"
#include "serving/nn_ops.h"
#include "serving/parse_example.h"
#include "serving/staged_call.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::serving {
namespace {

constexpr int kMaxDepth = 5000;  // nested evaluation depth (a guard against hostile graphs)

const tf::AttrValue* Attr(const tf::NodeDef& node, const char* name) {
  auto found = node.attr().find(name);
  return found == node.attr().end() ? nullptr : &found->second;
}

bool IsNumeric(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kInt32 || t == DType::kInt64;
}

// Numpy broadcasting of two shapes; false when incompatible.
bool BroadcastShape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                    std::vector<int64_t>* out) {
  const size_t rank = std::max(a.size(), b.size());
  out->assign(rank, 1);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
    const int64_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    (*out)[k] = da == 1 ? db : da;
  }
  return true;
}

// For each output element, the flat index into an input of shape `in`
// broadcast to `out`.
std::vector<int64_t> BroadcastIndex(const std::vector<int64_t>& in,
                                    const std::vector<int64_t>& out) {
  const size_t rank = out.size();
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t k = rank; k-- > 0;) {
    const size_t ik = k - (rank - in.size());
    const bool present = k >= rank - in.size();
    const int64_t dim = present ? in[ik] : 1;
    strides[k] = dim == 1 ? 0 : stride;
    if (present) stride *= dim;
  }
  const int64_t n = NumElements(out);
  std::vector<int64_t> index(static_cast<size_t>(n), 0);
  std::vector<int64_t> counter(rank, 0);
  int64_t flat = 0;
  for (int64_t e = 0; e < n; ++e) {
    index[static_cast<size_t>(e)] = flat;
    for (size_t k = rank; k-- > 0;) {
      ++counter[k];
      flat += strides[k];
      if (counter[k] < out[k]) break;
      flat -= strides[k] * out[k];
      counter[k] = 0;
    }
  }
  return index;
}

// The matrix t (rows, cols) transposed to (cols, rows).
Tensor Transposed(const Tensor& t) {
  const int64_t r = t.shape[0], c = t.shape[1];
  Tensor out = t;
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      out.f[static_cast<size_t>(j * r + i)] = t.f[static_cast<size_t>(i * c + j)];
    }
  }
  out.shape = {c, r};
  return out;
}

// The tensor `key` of a bundle whose entry is `entry` (string, float32,
// float64, int64 or int32; int32 is widened into Tensor::i).
StatusOr<Tensor> ReadBundleTensor(const storage::BundleReader& reader, const std::string& key,
                                  const tf::BundleEntryProto& entry) {
  Tensor t;
  t.dtype = static_cast<DType>(entry.dtype());
  for (const auto& dim : entry.shape().dim()) t.shape.push_back(dim.size());
  const size_t n = static_cast<size_t>(t.num_elements());
  if (t.dtype == DType::kString) {
    ASSIGN_OR_RETURN(t.s, reader.ReadStrings(key));
  } else if (t.dtype == DType::kFloat32) {
    t.f.resize(n);
    RETURN_IF_ERROR(reader.Read(key, t.f.data(), n * sizeof(float)));
  } else if (t.dtype == DType::kFloat64) {
    t.d.resize(n);
    RETURN_IF_ERROR(reader.Read(key, t.d.data(), n * sizeof(double)));
  } else if (t.dtype == DType::kInt64) {
    t.i.resize(n);
    RETURN_IF_ERROR(reader.Read(key, t.i.data(), n * sizeof(int64_t)));
  } else if (t.dtype == DType::kInt32) {
    std::vector<int32_t> values(n);
    RETURN_IF_ERROR(reader.Read(key, values.data(), n * sizeof(int32_t)));
    t.i.assign(values.begin(), values.end());
  } else {
    return UnimplementedError("restoring '" + key + "' of dtype " + std::to_string(entry.dtype()) +
                              " is not supported");
  }
  return t;
}

}  // namespace

std::pair<std::string, int> ParseTensorName(const std::string& name) {
  if (!name.empty() && name[0] == '^') return {name.substr(1), -1};
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && colon + 1 < name.size() &&
      std::all_of(name.begin() + static_cast<long>(colon) + 1, name.end(), ::isdigit) &&
      name.size() - colon <= 7) {
    return {name.substr(0, colon), std::stoi(name.substr(colon + 1))};
  }
  return {name, 0};
}

Status VariableStore::Assign(const std::string& name, TensorPtr value) {
  std::lock_guard<std::mutex> lock(mutex_);
  values_[name] = std::move(value);
  return OkStatus();
}

StatusOr<TensorPtr> VariableStore::Read(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = values_.find(name);
  if (found == values_.end()) {
    return FailedPreconditionError("variable '" + name + "' is not initialized (was it restored?)");
  }
  return found->second;
}

StatusOr<TensorPtr> VariableStore::AssignAdd(const std::string& name, const Tensor& delta) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = values_.find(name);
  if (found == values_.end()) {
    return FailedPreconditionError("variable '" + name + "' is not initialized");
  }
  auto updated = std::make_shared<Tensor>(*found->second);
  Tensor& value = *updated;
  if (value.dtype != delta.dtype || value.stored() != delta.stored()) {
    return InvalidArgumentError("AssignAdd to '" + name + "': value " + value.ShapeString() +
                                " and delta " + delta.ShapeString() + " differ");
  }
  for (size_t k = 0; k < value.f.size(); ++k) value.f[k] += delta.f[k];
  for (size_t k = 0; k < value.d.size(); ++k) value.d[k] += delta.d[k];
  for (size_t k = 0; k < value.i.size(); ++k) value.i[k] += delta.i[k];
  found->second = updated;
  return TensorPtr(updated);
}

// The state of one Run(): computed outputs and the nodes being evaluated.
// Each supported op is one member function, found through the table Kernels().
class GraphExecutor::RunState {
 public:
  using Tensors = std::vector<TensorPtr>;
  // One op: the node and its evaluated inputs -> the node's outputs.
  using Kernel = StatusOr<Tensors> (RunState::*)(const tf::NodeDef& node, const Tensors& in);

  // The one table of supported ops: op name -> kernel.
  static const std::map<std::string, Kernel>& Kernels();

  RunState(const GraphExecutor& graph, const std::map<std::string, Tensor>& feeds,
           VariableStore* variables)
      : graph_(graph), variables_(variables) {
    for (const auto& [name, tensor] : feeds) {
      auto [node, index] = ParseTensorName(name);
      feeds_[node + ":" + std::to_string(std::max(index, 0))] = std::make_shared<Tensor>(tensor);
    }
  }

  StatusOr<TensorPtr> Get(const std::string& tensor_name, int depth) {
    auto [node, index] = ParseTensorName(tensor_name);
    auto fed = feeds_.find(node + ":" + std::to_string(std::max(index, 0)));
    if (fed != feeds_.end() && index >= 0) return fed->second;
    ASSIGN_OR_RETURN(const Tensors* outputs, Evaluate(node, depth));
    if (index < 0) return TensorPtr();
    if (static_cast<size_t>(index) >= outputs->size()) {
      return InvalidArgumentError("node '" + node + "' has no output " + std::to_string(index));
    }
    return (*outputs)[static_cast<size_t>(index)];
  }

  StatusOr<const Tensors*> Evaluate(const std::string& name, int depth) {
    auto done = results_.find(name);
    if (done != results_.end()) return &done->second;
    if (depth > kMaxDepth) {
      return InvalidArgumentError("the graph is too deep at node '" + name + "'");
    }
    if (!in_progress_.insert(name).second) {
      return InvalidArgumentError("the graph has a cycle through node '" + name + "'");
    }
    auto found = graph_.nodes_.find(name);
    if (found == graph_.nodes_.end()) return NotFoundError("no node '" + name + "' in the graph");
    const tf::NodeDef& node = found->second;
    Tensors inputs;
    for (const std::string& input : node.input()) {
      // Assign/AssignAdd take their variable by reference: do not read it.
      if ((node.op() == "Assign" || node.op() == "AssignAdd") && inputs.empty()) {
        inputs.push_back(std::make_shared<Tensor>());
        continue;
      }
      ASSIGN_OR_RETURN(TensorPtr value, Get(input, depth + 1));
      if (input[0] != '^') inputs.push_back(std::move(value));
    }
    auto outputs = Compute(node, inputs);
    in_progress_.erase(name);
    if (!outputs.ok()) {
      if (outputs.status().message().rfind("node '", 0) == 0) return outputs.status();
      return Status(outputs.status().code(),
                    "node '" + name + "' (" + node.op() + "): " + outputs.status().message());
    }
    return &(results_[name] = std::move(*outputs));  // pointers into an unordered_map stay valid
  }

 private:
  StatusOr<Tensors> Compute(const tf::NodeDef& node, const Tensors& in) {
    auto kernel = Kernels().find(node.op());
    if (kernel == Kernels().end()) {
      return UnimplementedError("op " + node.op() + " is not supported by the serving runtime");
    }
    return (this->*kernel->second)(node, in);
  }
  Status Need(const Tensors& in, size_t n) const {
    if (in.size() < n) return InvalidArgumentError("expects " + std::to_string(n) + " inputs");
    return OkStatus();
  }
  static Tensors One(Tensor t) { return Tensors{std::make_shared<const Tensor>(std::move(t))}; }
  StatusOr<Tensor> Binary(const std::string& op, const Tensor& a, const Tensor& b);
  StatusOr<Tensor> Unary(const std::string& op, const Tensor& input);
  // The VariableV2 node that an Assign or AssignAdd node writes.
  StatusOr<std::string> ReferencedVariable(const tf::NodeDef& node) const;

  // The kernels, in the order of the table.
  StatusOr<Tensors> Placeholder(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> ForwardInput(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Const(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> NoOp(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> VarHandleOp(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> ReadVariableOp(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> AssignVariableOp(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> RestoreV2(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> VariableV2(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Assign(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> AssignAdd(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> MatMul(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> BiasAdd(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Arithmetic(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Activation(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Reshape(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> RandomUniform(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> ParseExample(const tf::NodeDef& node, const Tensors& in);
  // Convolutional and residual layers' ops (serving/nn_ops.h).
  StatusOr<Tensors> Conv2D(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Pool(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> Mean(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> FusedBatchNormV3(const tf::NodeDef& node, const Tensors& in);
  StatusOr<Tensors> ConcatV2(const tf::NodeDef& node, const Tensors& in);

  const GraphExecutor& graph_;
  VariableStore* variables_;
  std::map<std::string, TensorPtr> feeds_;
  std::unordered_map<std::string, Tensors> results_;
  std::set<std::string> in_progress_;
};

const std::map<std::string, GraphExecutor::RunState::Kernel>& GraphExecutor::RunState::Kernels() {
  static const std::map<std::string, Kernel> kernels = {
      {"Placeholder", &RunState::Placeholder},
      {"PlaceholderWithDefault", &RunState::ForwardInput},
      {"Identity", &RunState::ForwardInput},
      {"Const", &RunState::Const},
      {"NoOp", &RunState::NoOp},
      {"VarHandleOp", &RunState::VarHandleOp},
      {"ReadVariableOp", &RunState::ReadVariableOp},
      {"AssignVariableOp", &RunState::AssignVariableOp},
      {"RestoreV2", &RunState::RestoreV2},
      {"VariableV2", &RunState::VariableV2},
      {"Assign", &RunState::Assign},
      {"AssignAdd", &RunState::AssignAdd},
      {"MatMul", &RunState::MatMul},
      {"BiasAdd", &RunState::BiasAdd},
      {"Add", &RunState::Arithmetic},
      {"AddV2", &RunState::Arithmetic},
      {"Sub", &RunState::Arithmetic},
      {"Mul", &RunState::Arithmetic},
      {"RealDiv", &RunState::Arithmetic},
      {"Pow", &RunState::Arithmetic},
      {"Erf", &RunState::Activation},
      {"Relu", &RunState::Activation},
      {"Sigmoid", &RunState::Activation},
      {"Tanh", &RunState::Activation},
      {"Softmax", &RunState::Activation},
      {"Reshape", &RunState::Reshape},
      {"RandomUniform", &RunState::RandomUniform},
      {"ParseExample", &RunState::ParseExample},
      {"Conv2D", &RunState::Conv2D},
      {"MaxPool", &RunState::Pool},
      {"AvgPool", &RunState::Pool},
      {"Mean", &RunState::Mean},
      {"FusedBatchNormV3", &RunState::FusedBatchNormV3},
      {"ConcatV2", &RunState::ConcatV2},
  };
  return kernels;
}

StatusOr<Tensor> GraphExecutor::RunState::Binary(const std::string& op, const Tensor& a,
                                                 const Tensor& b) {
  if (a.dtype != b.dtype || !IsNumeric(a.dtype)) {
    return InvalidArgumentError("operands of " + op + " must have the same numeric dtype");
  }
  const bool floating = a.dtype == DType::kFloat32 || a.dtype == DType::kFloat64;
  if ((op == "RealDiv" || op == "Pow") && !floating) {
    return InvalidArgumentError(op + " supports float32 and float64 only");
  }
  Tensor out;
  out.dtype = a.dtype;
  if (!BroadcastShape(a.shape, b.shape, &out.shape)) {
    return InvalidArgumentError("shapes " + ShapeText(a.shape) + " and " + ShapeText(b.shape) +
                                " do not broadcast");
  }
  if (a.stored() != static_cast<size_t>(a.num_elements()) ||
      b.stored() != static_cast<size_t>(b.num_elements())) {
    return InvalidArgumentError("an operand's data does not match its shape");
  }
  const auto ia = BroadcastIndex(a.shape, out.shape), ib = BroadcastIndex(b.shape, out.shape);
  auto apply = [&](auto& dst, const auto& x, const auto& y) {
    dst.resize(ia.size());
    for (size_t e = 0; e < ia.size(); ++e) {
      const auto u = x[static_cast<size_t>(ia[e])], v = y[static_cast<size_t>(ib[e])];
      dst[e] = op == "Sub"       ? u - v
               : op == "Mul"     ? u * v
               : op == "RealDiv" ? u / v
               : op == "Pow"     ? static_cast<decltype(u)>(std::pow(u, v))
                                 : u + v;
    }
  };
  if (a.dtype == DType::kFloat32) {
    apply(out.f, a.f, b.f);
  } else if (a.dtype == DType::kFloat64) {
    apply(out.d, a.d, b.d);
  } else {
    apply(out.i, a.i, b.i);
  }
  return out;
}

StatusOr<Tensor> GraphExecutor::RunState::Unary(const std::string& op, const Tensor& input) {
  Tensor x = input;
  if (x.dtype != DType::kFloat32) return InvalidArgumentError(op + " supports float32 only");
  if (x.f.size() != static_cast<size_t>(x.num_elements())) {
    return InvalidArgumentError("the input's data does not match its shape");
  }
  if (op == "Erf") {
    for (float& v : x.f) v = std::erf(v);
    return x;
  }
  int64_t rows = 1, cols = x.num_elements();
  kernels::Activation act = op == "Relu"      ? kernels::Activation::kRelu
                            : op == "Sigmoid" ? kernels::Activation::kSigmoid
                                              : kernels::Activation::kTanh;
  if (op == "Softmax") {
    if (x.shape.empty()) return InvalidArgumentError("Softmax needs rank >= 1");
    act = kernels::Activation::kSoftmax;
    cols = x.shape.back();
    rows = cols == 0 ? 0 : x.num_elements() / cols;
  }
  auto lock = graph_.LockDevice();
  StagedCall call(*graph_.backend_);
  ASSIGN_OR_RETURN(float* data, call.InOut(x.f.data(), x.num_elements(), "x"));
  graph_.backend_->ActivationForward(act, data, data, rows, cols);
  RETURN_IF_ERROR(call.Finish());
  return x;
}

StatusOr<std::string> GraphExecutor::RunState::ReferencedVariable(const tf::NodeDef& node) const {
  const std::string variable = ParseTensorName(node.input(0)).first;
  auto ref = graph_.nodes_.find(variable);
  if (ref == graph_.nodes_.end() || ref->second.op() != "VariableV2") {
    return InvalidArgumentError("the first input must be a VariableV2 node");
  }
  return variable;
}

auto GraphExecutor::RunState::Placeholder(const tf::NodeDef& node, const Tensors&)
    -> StatusOr<Tensors> {
  return InvalidArgumentError("input '" + node.name() + "' was not given a value");
}

// PlaceholderWithDefault (when not fed) and Identity: the first input.
auto GraphExecutor::RunState::ForwardInput(const tf::NodeDef&, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 1));
  return Tensors{in[0]};
}

auto GraphExecutor::RunState::Const(const tf::NodeDef& node, const Tensors&) -> StatusOr<Tensors> {
  return Tensors{graph_.constants_.at(node.name())};
}

auto GraphExecutor::RunState::NoOp(const tf::NodeDef&, const Tensors&) -> StatusOr<Tensors> {
  return Tensors{};
}

// A resource handle is a string scalar: the variable's shared_name, else the node's name.
auto GraphExecutor::RunState::VarHandleOp(const tf::NodeDef& node, const Tensors&)
    -> StatusOr<Tensors> {
  const tf::AttrValue* shared = Attr(node, "shared_name");
  return One(Tensor::String(shared != nullptr && !shared->s().empty() ? shared->s() : node.name()));
}

auto GraphExecutor::RunState::ReadVariableOp(const tf::NodeDef&, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 1));
  if (in[0]->s.size() != 1) return InvalidArgumentError("the resource input is not a handle");
  ASSIGN_OR_RETURN(TensorPtr value, variables_->Read(in[0]->s[0]));
  return Tensors{std::move(value)};
}

auto GraphExecutor::RunState::AssignVariableOp(const tf::NodeDef&, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  if (in[0]->s.size() != 1) return InvalidArgumentError("the resource input is not a handle");
  RETURN_IF_ERROR(variables_->Assign(in[0]->s[0], in[1]));
  return Tensors{};
}

// Inputs: prefix (string scalar), tensor_names, shape_and_slices (only empty
// slices); attr dtypes must match the checkpoint's entries.
auto GraphExecutor::RunState::RestoreV2(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 3));
  if (in[0]->s.size() != 1) return InvalidArgumentError("the prefix must be a string scalar");
  const std::vector<std::string>& names = in[1]->s;
  const std::vector<std::string>& slices = in[2]->s;
  const tf::AttrValue* dtypes = Attr(node, "dtypes");
  if (dtypes == nullptr || dtypes->list().type_size() != static_cast<int>(names.size())) {
    return InvalidArgumentError("dtypes does not match tensor_names");
  }
  ASSIGN_OR_RETURN(auto reader,
                   storage::BundleReader::Open(storage::PosixFileSystem(), in[0]->s[0]));
  Tensors out;
  for (size_t k = 0; k < names.size(); ++k) {
    const std::string& key = names[k];
    if (k < slices.size() && !slices[k].empty()) {
      return UnimplementedError("restoring a slice of '" + key + "' is not supported");
    }
    ASSIGN_OR_RETURN(tf::BundleEntryProto entry, reader->Entry(key));
    if (static_cast<int>(entry.dtype()) != dtypes->list().type(static_cast<int>(k))) {
      return InvalidArgumentError("checkpoint tensor '" + key + "' has dtype " +
                                  std::to_string(entry.dtype()) + ", the graph expects " +
                                  std::to_string(dtypes->list().type(static_cast<int>(k))));
    }
    ASSIGN_OR_RETURN(Tensor t, ReadBundleTensor(*reader, key, entry));
    out.push_back(std::make_shared<const Tensor>(std::move(t)));
  }
  return out;
}

auto GraphExecutor::RunState::VariableV2(const tf::NodeDef& node, const Tensors&)
    -> StatusOr<Tensors> {
  ASSIGN_OR_RETURN(TensorPtr value, variables_->Read(node.name()));
  return Tensors{std::move(value)};
}

auto GraphExecutor::RunState::Assign(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  ASSIGN_OR_RETURN(std::string variable, ReferencedVariable(node));
  RETURN_IF_ERROR(variables_->Assign(variable, in[1]));
  return Tensors{in[1]};
}

auto GraphExecutor::RunState::AssignAdd(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  ASSIGN_OR_RETURN(std::string variable, ReferencedVariable(node));
  ASSIGN_OR_RETURN(TensorPtr value, variables_->AssignAdd(variable, *in[1]));
  return Tensors{std::move(value)};
}

// float32 matrices; attrs transpose_a/transpose_b. Transposed operands are
// materialized; the usual case reads the weights in place.
auto GraphExecutor::RunState::MatMul(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  const tf::AttrValue* ta = Attr(node, "transpose_a");
  const tf::AttrValue* tb = Attr(node, "transpose_b");
  const bool transpose_a = ta != nullptr && ta->b(), transpose_b = tb != nullptr && tb->b();
  const Tensor& a0 = *in[0];
  const Tensor& b0 = *in[1];
  if (a0.dtype != DType::kFloat32 || b0.dtype != DType::kFloat32) {
    return InvalidArgumentError("MatMul supports float32 only");
  }
  if (a0.shape.size() != 2 || b0.shape.size() != 2 ||
      a0.f.size() != static_cast<size_t>(a0.num_elements()) ||
      b0.f.size() != static_cast<size_t>(b0.num_elements())) {
    return InvalidArgumentError("MatMul needs two matrices, got " + ShapeText(a0.shape) + " and " +
                                ShapeText(b0.shape));
  }
  Tensor a_copy, b_copy;
  if (transpose_a) a_copy = Transposed(a0);
  if (transpose_b) b_copy = Transposed(b0);
  const Tensor& a = transpose_a ? a_copy : a0;
  const Tensor& b = transpose_b ? b_copy : b0;
  if (a.shape[1] != b.shape[0]) {
    return InvalidArgumentError("MatMul of " + ShapeText(a.shape) + " and " + ShapeText(b.shape) +
                                ": inner dimensions differ");
  }
  Tensor y = Tensor::Floats({a.shape[0], b.shape[1]});
  auto lock = graph_.LockDevice();
  StagedCall call(*graph_.backend_);
  ASSIGN_OR_RETURN(const float* x, call.In(a.f.data(), a.num_elements(), "a"));
  ASSIGN_OR_RETURN(const float* w, call.In(b.f.data(), b.num_elements(), "b"));
  ASSIGN_OR_RETURN(float* out, call.Out(y.f.data(), y.num_elements(), "product"));
  graph_.backend_->DenseForward(x, w, nullptr, out, a.shape[0], a.shape[1], b.shape[1]);
  RETURN_IF_ERROR(call.Finish());
  return One(std::move(y));
}

auto GraphExecutor::RunState::BiasAdd(const tf::NodeDef&, const Tensors& in) -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  const Tensor& bias = *in[1];
  if (in[0]->shape.empty() || bias.shape.size() != 1 || bias.shape[0] != in[0]->shape.back()) {
    return InvalidArgumentError("BiasAdd of " + ShapeText(in[0]->shape) + " and bias " +
                                ShapeText(bias.shape) + ": the bias must match the last dimension");
  }
  ASSIGN_OR_RETURN(Tensor out, Binary("Add", *in[0], bias));
  return One(std::move(out));
}

// Add, AddV2, Sub, Mul, RealDiv, Pow with numpy broadcasting (the last two
// for floats; tf.nn.gelu's graph uses them).
auto GraphExecutor::RunState::Arithmetic(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  ASSIGN_OR_RETURN(Tensor out, Binary(node.op(), *in[0], *in[1]));
  return One(std::move(out));
}

// Relu, Sigmoid, Tanh, Erf, Softmax (over the last dimension).
auto GraphExecutor::RunState::Activation(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 1));
  ASSIGN_OR_RETURN(Tensor out, Unary(node.op(), *in[0]));
  return One(std::move(out));
}

// The target shape may hold one -1, inferred from the element count.
auto GraphExecutor::RunState::Reshape(const tf::NodeDef&, const Tensors& in) -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  Tensor x = *in[0];
  const Tensor& shape = *in[1];
  std::vector<int64_t> dims(shape.i.begin(), shape.i.end());
  int64_t known = 1;
  int unknown = -1;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == -1 && unknown < 0) {
      unknown = static_cast<int>(k);
    } else if (dims[k] < 0) {
      return InvalidArgumentError("bad target shape " + ShapeText(dims));
    } else {
      known *= dims[k];
    }
  }
  const int64_t n = x.num_elements();
  if (unknown >= 0) {
    if (known == 0 || n % known != 0) {
      return InvalidArgumentError("cannot reshape " + ShapeText(x.shape) + " to " +
                                  ShapeText(dims));
    }
    dims[static_cast<size_t>(unknown)] = n / known;
  }
  if (NumElements(dims) != n) {
    return InvalidArgumentError("cannot reshape " + ShapeText(x.shape) + " to " + ShapeText(dims));
  }
  x.shape = std::move(dims);
  return One(std::move(x));
}

// Initializers in TF1 init ops: [0, 1) from Philox keyed by seed and seed2
// (not TensorFlow's stream).
auto GraphExecutor::RunState::RandomUniform(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 1));
  std::vector<int64_t> dims(in[0]->i.begin(), in[0]->i.end());
  for (int64_t d : dims) {
    if (d < 0) return InvalidArgumentError("negative dimension in " + ShapeText(dims));
  }
  if (NumElements(dims) > (int64_t{1} << 28)) return InvalidArgumentError("shape too large");
  const tf::AttrValue* seed = Attr(node, "seed");
  const tf::AttrValue* seed2 = Attr(node, "seed2");
  const uint64_t key = (static_cast<uint64_t>(seed != nullptr ? seed->i() : 0) << 32) ^
                       static_cast<uint64_t>(seed2 != nullptr ? seed2->i() : 0);
  Tensor out = Tensor::Floats(dims);
  for (size_t k = 0; k < out.f.size(); ++k) out.f[k] = BitsToUniform(PhiloxBits(key, 0, 0, k));
  return One(std::move(out));
}

std::vector<std::string> GraphExecutor::SupportedOps() {
  std::vector<std::string> ops;
  for (const auto& [op, kernel] : RunState::Kernels()) ops.push_back(op);
  return ops;
}

std::unique_lock<std::mutex> GraphExecutor::LockDevice() const {
  if (backend_->host_reads_device_memory()) return std::unique_lock<std::mutex>();
  return std::unique_lock<std::mutex>(device_mutex_);
}

StatusOr<std::unique_ptr<GraphExecutor>> GraphExecutor::Create(const tf::GraphDef& graph) {
  return Create(graph, kernels::CreateCpuBackend());
}

StatusOr<std::unique_ptr<GraphExecutor>> GraphExecutor::Create(
    const tf::GraphDef& graph, std::unique_ptr<kernels::KernelBackend> backend) {
  if (backend == nullptr) return InvalidArgumentError("GraphExecutor::Create: null backend");
  std::unique_ptr<GraphExecutor> executor(new GraphExecutor());
  for (const tf::NodeDef& node : graph.node()) {
    if (!executor->nodes_.emplace(node.name(), node).second) {
      return InvalidArgumentError("the graph has two nodes named '" + node.name() + "'");
    }
  }
  for (const auto& [name, node] : executor->nodes_) {
    for (const std::string& input : node.input()) {
      if (executor->nodes_.count(ParseTensorName(input).first) == 0) {
        return InvalidArgumentError("node '" + name + "' reads '" + input +
                                    "', which does not exist");
      }
    }
    if (node.op() == "Const") {
      const tf::AttrValue* value = Attr(node, "value");
      if (value == nullptr || !value->has_tensor()) {
        return InvalidArgumentError("Const node '" + name + "' has no value");
      }
      auto tensor = TensorFromProto(value->tensor());
      if (!tensor.ok()) return tensor.status().WithContext("Const node '" + name + "'");
      executor->constants_[name] = std::make_shared<const Tensor>(std::move(*tensor));
    }
  }
  executor->backend_ = std::move(backend);
  return executor;
}

std::vector<std::string> GraphExecutor::UnsupportedOps(const std::vector<std::string>& roots,
                                                       const std::vector<std::string>& fed) const {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& tensor : fed) seen.insert(ParseTensorName(tensor).first);
  std::vector<std::string> stack;
  for (const std::string& root : roots) stack.push_back(ParseTensorName(root).first);
  while (!stack.empty()) {
    const std::string name = stack.back();
    stack.pop_back();
    if (!seen.insert(name).second) continue;
    auto found = nodes_.find(name);
    if (found == nodes_.end()) continue;
    if (RunState::Kernels().count(found->second.op()) == 0) {
      out.push_back(found->second.op() + " (node '" + name + "')");
      continue;
    }
    for (const std::string& input : found->second.input()) {
      stack.push_back(ParseTensorName(input).first);
    }
  }
  return out;
}

StatusOr<std::vector<Tensor>> GraphExecutor::Run(const std::map<std::string, Tensor>& feeds,
                                                 const std::vector<std::string>& fetches,
                                                 const std::vector<std::string>& targets,
                                                 VariableStore* variables) const {
  RunState state(*this, feeds, variables);
  for (const std::string& target : targets) {
    ASSIGN_OR_RETURN(const std::vector<TensorPtr>* ignored,
                     state.Evaluate(ParseTensorName(target).first, 0));
    (void)ignored;
  }
  std::vector<Tensor> out;
  for (const std::string& fetch : fetches) {
    ASSIGN_OR_RETURN(TensorPtr value, state.Get(fetch, 0));
    out.push_back(value != nullptr ? *value : Tensor());
  }
  return out;
}

// ParseExample (v1) with dense keys only: inputs serialized, names,
// dense_keys[Ndense], dense_defaults[Ndense]; outputs dense_values[Ndense].
auto GraphExecutor::RunState::ParseExample(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  const tf::AttrValue* nsparse = Attr(node, "Nsparse");
  const tf::AttrValue* ndense = Attr(node, "Ndense");
  const tf::AttrValue* types = Attr(node, "Tdense");
  const tf::AttrValue* shapes = Attr(node, "dense_shapes");
  if (nsparse != nullptr && nsparse->i() != 0) {
    return UnimplementedError("sparse features are not supported (Nsparse = " +
                              std::to_string(nsparse->i()) + ")");
  }
  const int64_t n = ndense == nullptr ? 0 : ndense->i();
  if (types == nullptr || shapes == nullptr || types->list().type_size() != n ||
      shapes->list().shape_size() != n) {
    return InvalidArgumentError("Tdense and dense_shapes must list Ndense entries");
  }
  RETURN_IF_ERROR(Need(in, static_cast<size_t>(2 + 2 * n)));
  if (in[0]->dtype != DType::kString) {
    return InvalidArgumentError("serialized must be a string tensor, got " +
                                std::string(DTypeName(in[0]->dtype)));
  }
  std::vector<DenseFeatureSpec> specs(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    DenseFeatureSpec& spec = specs[static_cast<size_t>(k)];
    const Tensor& key = *in[static_cast<size_t>(2 + k)];
    if (key.s.size() != 1) {
      return InvalidArgumentError("dense key " + std::to_string(k) + " is not one string");
    }
    spec.key = key.s[0];
    spec.dtype = static_cast<DType>(types->list().type(static_cast<int>(k)));
    for (const auto& dim : shapes->list().shape(static_cast<int>(k)).dim()) {
      spec.shape.push_back(dim.size());
    }
    spec.default_value = *in[static_cast<size_t>(2 + n + k)];
  }
  ASSIGN_OR_RETURN(std::vector<Tensor> values, ParseDenseExamples(in[0]->s, specs));
  Tensors out;
  for (Tensor& value : values) out.push_back(std::make_shared<const Tensor>(std::move(value)));
  return out;
}

auto GraphExecutor::RunState::Conv2D(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  auto lock = graph_.LockDevice();
  ASSIGN_OR_RETURN(Tensor y, Conv2DOp(node, *in[0], *in[1], *graph_.backend_));
  return One(std::move(y));
}

// MaxPool and AvgPool.
auto GraphExecutor::RunState::Pool(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 1));
  auto lock = graph_.LockDevice();
  ASSIGN_OR_RETURN(Tensor y, PoolOp(node, *in[0], *graph_.backend_));
  return One(std::move(y));
}

auto GraphExecutor::RunState::Mean(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 2));
  auto lock = graph_.LockDevice();
  ASSIGN_OR_RETURN(Tensor y, MeanOp(node, *in[0], *in[1], *graph_.backend_));
  return One(std::move(y));
}

auto GraphExecutor::RunState::FusedBatchNormV3(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 5));
  auto lock = graph_.LockDevice();
  ASSIGN_OR_RETURN(std::vector<Tensor> outputs,
                   FusedBatchNormOp(node, *in[0], *in[1], *in[2], *in[3], *in[4],
                                    *graph_.backend_));
  Tensors out;
  for (Tensor& t : outputs) out.push_back(std::make_shared<const Tensor>(std::move(t)));
  return out;
}

// Inputs: the N values, then the axis.
auto GraphExecutor::RunState::ConcatV2(const tf::NodeDef& node, const Tensors& in)
    -> StatusOr<Tensors> {
  RETURN_IF_ERROR(Need(in, 3));
  std::vector<const Tensor*> values;
  for (size_t k = 0; k + 1 < in.size(); ++k) values.push_back(in[k].get());
  auto lock = graph_.LockDevice();
  ASSIGN_OR_RETURN(Tensor y, ConcatV2Op(node, values, *in.back(), *graph_.backend_));
  return One(std::move(y));
}

}  // namespace shardtrain::serving
