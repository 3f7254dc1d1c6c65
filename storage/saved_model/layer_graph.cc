#include "storage/saved_model/layer_graph.h"

namespace shardtrain::storage::saved_model {
namespace {

using B = GraphBuilder;

const char* ActivationOp(const std::string& activation) {
  if (activation == "relu") return "Relu";
  if (activation == "sigmoid") return "Sigmoid";
  if (activation == "tanh") return "Tanh";
  if (activation == "softmax") return "Softmax";
  return nullptr;
}

bool IsGelu(const std::string& activation) {
  return activation == "gelu" || activation == "gelu_approximate";
}

// tf.nn.gelu's graph under scope "<layer>/Gelu" (TF has no Gelu op): 0.5x (1 +
// erf(x / sqrt 2)), or with `approximate` 0.5x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Returns the output node.
std::string AddGelu(GraphBuilder& b, const std::string& scope, const std::string& x,
                    bool approximate) {
  const std::string s = scope + "/";
  std::string cdf_sum;  // 1 + erf(...) or 1 + tanh(...)
  if (approximate) {
    b.FloatConst(s + "Pow/y", 3.0f);
    const std::string cube = b.Binary(s + "Pow", "Pow", x, s + "Pow/y");
    b.FloatConst(s + "mul/x", 0.044715f);
    const std::string cubic = b.Binary(s + "mul", "Mul", s + "mul/x", cube);
    const std::string sum = b.Binary(s + "add", "AddV2", x, cubic);
    b.FloatConst(s + "mul_1/x", 0.7978845608028654f);
    const std::string inner = b.Binary(s + "mul_1", "Mul", s + "mul_1/x", sum);
    const std::string tanh = b.Unary(s + "Tanh", "Tanh", inner);
    b.FloatConst(s + "add_1/x", 1.0f);
    cdf_sum = b.Binary(s + "add_1", "AddV2", s + "add_1/x", tanh);
  } else {
    b.FloatConst(s + "Cast/x", 1.4142135623730951f);
    const std::string scaled = b.Binary(s + "truediv", "RealDiv", x, s + "Cast/x");
    const std::string erf = b.Unary(s + "Erf", "Erf", scaled);
    b.FloatConst(s + "add/x", 1.0f);
    cdf_sum = b.Binary(s + "add", "AddV2", s + "add/x", erf);
  }
  b.FloatConst(s + "mul_2/x", 0.5f);
  const std::string half = b.Binary(s + "mul_2", "Mul", s + "mul_2/x", x);
  return b.Binary(s + "mul_3", "Mul", half, cdf_sum);
}

// A VarHandleOp and its ReadVariableOp; returns the read's name.
std::string AddVariable(GraphBuilder& b, const LayerVariable& variable) {
  tf::NodeDef* handle = b.Node(variable.name, "VarHandleOp");
  B::Str(handle, "container", "");
  B::Str(handle, "shared_name", variable.name);
  B::Type(handle, "dtype", tf::DT_FLOAT);
  B::ShapeAttr(handle, variable.shape);
  tf::NodeDef* read =
      b.Node(variable.name + "/Read/ReadVariableOp", "ReadVariableOp", {variable.name});
  B::Type(read, "dtype", tf::DT_FLOAT);
  return read->name();
}

std::string Read(const ExportLayer& layer, const char* weight) {
  return layer.name + "/" + weight + "/Read/ReadVariableOp";
}

// "[+ BiasAdd] [+ activation]" after the MatMul or Conv2D node `x`.
std::string AddBiasAndActivation(GraphBuilder& b, const ExportLayer& layer, std::string x) {
  if (!layer.bias.empty()) {
    tf::NodeDef* bias = b.Node(layer.name + "/BiasAdd", "BiasAdd", {x, Read(layer, "bias")});
    B::Type(bias, "T", tf::DT_FLOAT);
    if (layer.kind == ExportLayerKind::kConv2D) B::Str(bias, "data_format", "NHWC");
    x = bias->name();
  }
  return AddActivation(b, layer.name, x, layer.activation);
}

std::string AddDense(GraphBuilder& b, const ExportLayer& layer, const std::string& x) {
  tf::NodeDef* matmul = b.Node(layer.name + "/MatMul", "MatMul", {x, Read(layer, "kernel")});
  B::Type(matmul, "T", tf::DT_FLOAT);
  return AddBiasAndActivation(b, layer, matmul->name());
}

// Conv2D with every attr of the op registry: NHWC, no dilation, SAME or VALID.
std::string AddConv2D(GraphBuilder& b, const ExportLayer& layer, const std::string& x) {
  tf::NodeDef* conv = b.Node(layer.name + "/Conv2D", "Conv2D", {x, Read(layer, "kernel")});
  B::Type(conv, "T", tf::DT_FLOAT);
  B::Ints(conv, "strides", {1, layer.stride_h, layer.stride_w, 1});
  B::Bool(conv, "use_cudnn_on_gpu", true);
  B::Str(conv, "padding", layer.same_padding ? "SAME" : "VALID");
  B::Ints(conv, "explicit_paddings", {});
  B::Str(conv, "data_format", "NHWC");
  B::Ints(conv, "dilations", {1, 1, 1, 1});
  return AddBiasAndActivation(b, layer, conv->name());
}

// MaxPool or AvgPool: ksize/strides [1, h, w, 1], padding, data_format NHWC.
std::string AddPool(GraphBuilder& b, const ExportLayer& layer, const std::string& x) {
  const char* op = layer.kind == ExportLayerKind::kMaxPool ? "MaxPool" : "AvgPool";
  tf::NodeDef* pool = b.Node(layer.name + "/" + op, op, {x});
  B::Type(pool, "T", tf::DT_FLOAT);
  B::Ints(pool, "ksize", {1, layer.window_h, layer.window_w, 1});
  B::Ints(pool, "strides", {1, layer.stride_h, layer.stride_w, 1});
  B::Str(pool, "padding", layer.same_padding ? "SAME" : "VALID");
  B::Str(pool, "data_format", "NHWC");
  return pool->name();
}

// GlobalAveragePooling2D as Keras writes it: Mean over the axes [1, 2].
std::string AddGlobalAvgPool(GraphBuilder& b, const ExportLayer& layer, const std::string& x) {
  const std::string axes = b.Int32Const(layer.name + "/Mean/reduction_indices", {1, 2})->name();
  tf::NodeDef* mean = b.Node(layer.name + "/Mean", "Mean", {x, axes});
  B::Bool(mean, "keep_dims", layer.keepdims);
  B::Type(mean, "T", tf::DT_FLOAT);
  B::Type(mean, "Tidx", tf::DT_INT32);
  return mean->name();
}

// FusedBatchNormV3 (inference) over a 4-D view of x: an input that is not
// (h, w, c) per example is reshaped to [-1, 1, 1, c] and back. Absent gamma /
// beta are Consts of ones / zeros, as Keras's fused path makes them.
std::string AddBatchNorm(GraphBuilder& b, const ExportLayer& layer, const std::string& x,
                         const ExampleShape& shape) {
  const int64_t channels = shape.back();
  const bool four_d = shape.size() == 3;
  std::string input = x;
  if (!four_d) input = AddReshape(b, layer.name + "/Reshape", x, {1, 1, channels});
  const size_t n = static_cast<size_t>(channels);
  const std::string scale =
      layer.gamma.empty()
          ? b.FloatsConst(layer.name + "/Const", std::vector<float>(n, 1.0f))->name()
          : Read(layer, "gamma");
  const std::string offset =
      layer.beta.empty()
          ? b.FloatsConst(layer.name + "/Const_1", std::vector<float>(n, 0.0f))->name()
          : Read(layer, "beta");
  tf::NodeDef* bn =
      b.Node(layer.name + "/FusedBatchNormV3", "FusedBatchNormV3",
             {input, scale, offset, Read(layer, "moving_mean"), Read(layer, "moving_variance")});
  B::Type(bn, "T", tf::DT_FLOAT);
  B::Type(bn, "U", tf::DT_FLOAT);
  B::Float(bn, "epsilon", layer.epsilon);
  B::Float(bn, "exponential_avg_factor", 1.0f);
  B::Str(bn, "data_format", "NHWC");
  B::Bool(bn, "is_training", false);
  if (four_d) return bn->name();
  return AddReshape(b, layer.name + "/Reshape_1", bn->name(), shape);
}

// AddV2 of the inputs, chained: add(add(a, b), c)...
std::string AddSum(GraphBuilder& b, const ExportLayer& layer,
                   const std::vector<std::string>& inputs) {
  std::string sum = inputs[0];
  for (size_t k = 1; k < inputs.size(); ++k) {
    const std::string name = layer.name + "/add" + (k == 1 ? "" : "_" + std::to_string(k - 1));
    sum = b.Binary(name, "AddV2", sum, inputs[k]);
  }
  return sum;
}

// ConcatV2 over the last axis (axis -1 as an int32 Const).
std::string AddConcat(GraphBuilder& b, const ExportLayer& layer, std::vector<std::string> inputs) {
  const std::string axis = b.Int32Const(layer.name + "/concat/axis", {-1}, true)->name();
  const int64_t n = static_cast<int64_t>(inputs.size());
  inputs.push_back(axis);
  tf::NodeDef* concat = b.Node(layer.name + "/concat", "ConcatV2", std::move(inputs));
  B::Int(concat, "N", n);
  B::Type(concat, "T", tf::DT_FLOAT);
  B::Type(concat, "Tidx", tf::DT_INT32);
  return concat->name();
}

}  // namespace

bool IsExportableActivation(const std::string& activation) {
  return activation == "linear" || ActivationOp(activation) != nullptr || IsGelu(activation);
}

std::string AddActivation(GraphBuilder& b, const std::string& scope, const std::string& x,
                          const std::string& activation) {
  if (const char* op = ActivationOp(activation)) return b.Unary(scope + "/" + op, op, x);
  if (IsGelu(activation)) return AddGelu(b, scope + "/Gelu", x, activation == "gelu_approximate");
  return x;
}

std::string AddReshape(GraphBuilder& b, const std::string& name, const std::string& x,
                       const ExampleShape& shape) {
  std::vector<int32_t> dims = {-1};
  for (int64_t d : shape) dims.push_back(static_cast<int32_t>(d));
  const std::string target = b.Int32Const(name + "/shape", dims)->name();
  tf::NodeDef* reshape = b.Node(name, "Reshape", {x, target});
  B::Type(reshape, "T", tf::DT_FLOAT);
  B::Type(reshape, "Tshape", tf::DT_INT32);
  return reshape->name();
}

std::string AddLayerNodes(GraphBuilder& b, const ExportLayer& layer,
                          const std::vector<std::string>& inputs,
                          const std::vector<ExampleShape>& input_shapes) {
  for (const LayerVariable& variable : LayerVariables(layer)) AddVariable(b, variable);
  const std::string& x = inputs[0];
  switch (layer.kind) {
    case ExportLayerKind::kDense:
      return AddDense(b, layer, x);
    case ExportLayerKind::kConv2D:
      return AddConv2D(b, layer, x);
    case ExportLayerKind::kMaxPool:
    case ExportLayerKind::kAvgPool:
      return AddPool(b, layer, x);
    case ExportLayerKind::kGlobalAvgPool:
      return AddGlobalAvgPool(b, layer, x);
    case ExportLayerKind::kBatchNormalization:
      return AddBatchNorm(b, layer, x, input_shapes[0]);
    case ExportLayerKind::kActivation:
      return AddActivation(b, layer.name, x, layer.activation);
    case ExportLayerKind::kAdd:
      return AddSum(b, layer, inputs);
    case ExportLayerKind::kConcatenate:
      return AddConcat(b, layer, inputs);
    case ExportLayerKind::kReshape:
      return AddReshape(b, layer.name + "/Reshape", x, layer.target_shape);
  }
  return x;
}

}  // namespace shardtrain::storage::saved_model
