#include "storage/saved_model/saved_model_writer.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <set>

#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_writer.h"

namespace shardtrain::storage::saved_model {
namespace {

// GraphDef versions: producer of TF 1.12 (the oldest runtime we target) and the
// min_consumer TF writes (spec §4.4).
constexpr int kGraphProducer = 27;
constexpr int kGraphMinConsumer = 12;

tf::TensorShapeProto Shape(const std::vector<int64_t>& dims) {
  tf::TensorShapeProto shape;
  for (int64_t d : dims) shape.add_dim()->set_size(d);
  return shape;
}

class GraphBuilder {
 public:
  explicit GraphBuilder(tf::GraphDef* graph) : graph_(graph) {}

  tf::NodeDef* Node(const std::string& name, const std::string& op,
                    std::vector<std::string> inputs = {}) {
    tf::NodeDef* node = graph_->add_node();
    node->set_name(name);
    node->set_op(op);
    for (std::string& input : inputs) node->add_input(std::move(input));
    return node;
  }
  static void Type(tf::NodeDef* node, const char* attr, tf::DataType type) {
    (*node->mutable_attr())[attr].set_type(type);
  }
  static void ShapeAttr(tf::NodeDef* node, const std::vector<int64_t>& dims) {
    *(*node->mutable_attr())["shape"].mutable_shape() = Shape(dims);
  }
  static void Str(tf::NodeDef* node, const char* attr, const std::string& value) {
    (*node->mutable_attr())[attr].set_s(value);
  }
  tf::NodeDef* StringConst(const std::string& name, const std::vector<std::string>& values,
                           bool scalar) {
    tf::NodeDef* node = Node(name, "Const");
    Type(node, "dtype", tf::DT_STRING);
    tf::TensorProto* tensor = (*node->mutable_attr())["value"].mutable_tensor();
    tensor->set_dtype(tf::DT_STRING);
    *tensor->mutable_tensor_shape() =
        scalar ? Shape({}) : Shape({static_cast<int64_t>(values.size())});
    for (const std::string& v : values) tensor->add_string_val(v);
    return node;
  }
  tf::NodeDef* FloatConst(const std::string& name, float value) {
    tf::NodeDef* node = Node(name, "Const");
    Type(node, "dtype", tf::DT_FLOAT);
    tf::TensorProto* tensor = (*node->mutable_attr())["value"].mutable_tensor();
    tensor->set_dtype(tf::DT_FLOAT);
    *tensor->mutable_tensor_shape() = Shape({});
    tensor->add_float_val(value);
    return node;
  }
  // A float binary op (Mul, AddV2, RealDiv, Pow) of two tensors.
  std::string Binary(const std::string& name, const char* op, const std::string& a,
                     const std::string& b) {
    Type(Node(name, op, {a, b}), "T", tf::DT_FLOAT);
    return name;
  }
  // A float unary op (Erf, Tanh).
  std::string Unary(const std::string& name, const char* op, const std::string& x) {
    Type(Node(name, op, {x}), "T", tf::DT_FLOAT);
    return name;
  }

 private:
  tf::GraphDef* graph_;
};

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

tf::TensorInfo Info(const std::string& name, const std::vector<int64_t>& dims) {
  tf::TensorInfo info;
  info.set_name(name);
  info.set_dtype(tf::DT_FLOAT);
  *info.mutable_tensor_shape() = Shape(dims);
  return info;
}

Status WriteSynced(FileSystem* fs, const std::string& path, const std::string& bytes) {
  ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(path));
  RETURN_IF_ERROR(file->Append(bytes));
  RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

// A resource variable of the graph: its name ("dense/kernel") and shape.
using GraphVariable = std::pair<std::string, std::vector<int64_t>>;

// The output features of `model`; InvalidArgument when a layer's sizes do not
// chain or its activation has no TF op.
StatusOr<int64_t> CheckedOutputFeatures(const ExportModel& model) {
  if (model.layers.empty()) return InvalidArgumentError("the model has no Dense layer to export");
  int64_t features = model.input_size;
  for (const ExportDense& layer : model.layers) {
    if (layer.in != features || layer.out <= 0 ||
        static_cast<int64_t>(layer.kernel.size()) != layer.in * layer.out ||
        (!layer.bias.empty() && static_cast<int64_t>(layer.bias.size()) != layer.out)) {
      return InvalidArgumentError("layer '" + layer.name + "' has inconsistent sizes (in " +
                                  std::to_string(layer.in) + ", expected " +
                                  std::to_string(features) + ")");
    }
    if (layer.activation != "linear" && ActivationOp(layer.activation) == nullptr &&
        !IsGelu(layer.activation)) {
      return InvalidArgumentError("layer '" + layer.name + "': activation '" + layer.activation +
                                  "' cannot be exported");
    }
    features = layer.out;
  }
  return features;
}

// A VarHandleOp and its ReadVariableOp ("<name>/Read/ReadVariableOp").
void AddVariable(GraphBuilder& b, const GraphVariable& variable) {
  const auto& [name, dims] = variable;
  tf::NodeDef* handle = b.Node(name, "VarHandleOp");
  GraphBuilder::Str(handle, "container", "");
  GraphBuilder::Str(handle, "shared_name", name);
  GraphBuilder::Type(handle, "dtype", tf::DT_FLOAT);
  GraphBuilder::ShapeAttr(handle, dims);
  tf::NodeDef* read = b.Node(name + "/Read/ReadVariableOp", "ReadVariableOp", {name});
  GraphBuilder::Type(read, "dtype", tf::DT_FLOAT);
}

// The forward graph: the input Placeholder, then per layer VarHandleOp ->
// ReadVariableOp -> MatMul -> BiasAdd -> activation, then output_0 (and
// probabilities). Returns the variables in graph order.
std::vector<GraphVariable> AddForward(GraphBuilder& b, const ExportModel& model) {
  tf::NodeDef* input = b.Node(model.input_name, "Placeholder");
  GraphBuilder::Type(input, "dtype", tf::DT_FLOAT);
  GraphBuilder::ShapeAttr(input, {-1, model.input_size});
  std::vector<GraphVariable> variables;
  std::string current = model.input_name;
  for (const ExportDense& layer : model.layers) {
    variables.push_back({layer.name + "/kernel", {layer.in, layer.out}});
    AddVariable(b, variables.back());
    if (!layer.bias.empty()) {
      variables.push_back({layer.name + "/bias", {layer.out}});
      AddVariable(b, variables.back());
    }
    tf::NodeDef* matmul = b.Node(layer.name + "/MatMul", "MatMul",
                                 {current, layer.name + "/kernel/Read/ReadVariableOp"});
    GraphBuilder::Type(matmul, "T", tf::DT_FLOAT);
    current = matmul->name();
    if (!layer.bias.empty()) {
      tf::NodeDef* bias = b.Node(layer.name + "/BiasAdd", "BiasAdd",
                                 {current, layer.name + "/bias/Read/ReadVariableOp"});
      GraphBuilder::Type(bias, "T", tf::DT_FLOAT);
      current = bias->name();
    }
    if (const char* op = ActivationOp(layer.activation)) {
      tf::NodeDef* act = b.Node(layer.name + "/" + op, op, {current});
      GraphBuilder::Type(act, "T", tf::DT_FLOAT);
      current = act->name();
    } else if (IsGelu(layer.activation)) {
      current = AddGelu(b, layer.name + "/Gelu", current, layer.activation == "gelu_approximate");
    }
  }
  tf::NodeDef* output = b.Node("output_0", "Identity", {current});
  GraphBuilder::Type(output, "T", tf::DT_FLOAT);
  if (model.add_probabilities) {
    tf::NodeDef* probabilities =
        b.Node("probabilities", model.sigmoid_probabilities ? "Sigmoid" : "Softmax", {"output_0"});
    GraphBuilder::Type(probabilities, "T", tf::DT_FLOAT);
  }
  return variables;
}

// The save and restore nodes of a TF1 non-sharded Saver (spec §4.4), over
// the variable names sorted, and the SaverDef that names them.
void AddSaver(GraphBuilder& b, std::vector<GraphVariable> variables, tf::SaverDef* saver) {
  std::sort(variables.begin(), variables.end());
  std::vector<std::string> names, slices(variables.size(), "");
  for (const auto& [name, dims] : variables) names.push_back(name);
  b.StringConst("save/filename/input", {"model"}, true);
  tf::NodeDef* filename =
      b.Node("save/filename", "PlaceholderWithDefault", {"save/filename/input"});
  GraphBuilder::Type(filename, "dtype", tf::DT_STRING);
  GraphBuilder::ShapeAttr(filename, {});
  tf::NodeDef* prefix = b.Node("save/Const", "PlaceholderWithDefault", {"save/filename"});
  GraphBuilder::Type(prefix, "dtype", tf::DT_STRING);
  GraphBuilder::ShapeAttr(prefix, {});
  b.StringConst("save/SaveV2/tensor_names", names, false);
  b.StringConst("save/SaveV2/shape_and_slices", slices, false);
  std::vector<std::string> save_inputs = {"save/Const", "save/SaveV2/tensor_names",
                                          "save/SaveV2/shape_and_slices"};
  for (const std::string& name : names) save_inputs.push_back(name + "/Read/ReadVariableOp");
  tf::NodeDef* save = b.Node("save/SaveV2", "SaveV2", save_inputs);
  b.StringConst("save/RestoreV2/tensor_names", names, false);
  b.StringConst("save/RestoreV2/shape_and_slices", slices, false);
  tf::NodeDef* restore =
      b.Node("save/RestoreV2", "RestoreV2",
             {"save/Const", "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices"});
  for (tf::NodeDef* node : {save, restore}) {
    auto* types = (*node->mutable_attr())["dtypes"].mutable_list();
    for (size_t k = 0; k < names.size(); ++k) types->add_type(tf::DT_FLOAT);
  }
  tf::NodeDef* saved =
      b.Node("save/control_dependency", "Identity", {"save/Const", "^save/SaveV2"});
  GraphBuilder::Type(saved, "T", tf::DT_STRING);
  std::vector<std::string> assigns;
  for (size_t k = 0; k < names.size(); ++k) {
    const std::string suffix = k == 0 ? "" : "_" + std::to_string(k);
    tf::NodeDef* identity =
        b.Node("save/Identity" + suffix, "Identity",
               {k == 0 ? "save/RestoreV2" : "save/RestoreV2:" + std::to_string(k)});
    GraphBuilder::Type(identity, "T", tf::DT_FLOAT);
    tf::NodeDef* assign =
        b.Node("save/AssignVariableOp" + suffix, "AssignVariableOp", {names[k], identity->name()});
    GraphBuilder::Type(assign, "dtype", tf::DT_FLOAT);
    assigns.push_back("^" + assign->name());
  }
  b.Node("save/restore_all", "NoOp", assigns);

  saver->set_filename_tensor_name("save/Const:0");
  saver->set_save_tensor_name("save/control_dependency:0");
  saver->set_restore_op_name("save/restore_all");
  saver->set_max_to_keep(5);
  saver->set_sharded(false);
  saver->set_keep_checkpoint_every_n_hours(10000.0f);
  saver->set_version(tf::SaverDef::V2);
}

// serving_default (tensorflow/serving/predict): the input, output_0 and, when
// added, probabilities, each (batch, features).
void AddServingSignature(const ExportModel& model, int64_t output_features,
                         tf::MetaGraphDef* meta) {
  tf::SignatureDef& signature = (*meta->mutable_signature_def())["serving_default"];
  signature.set_method_name("tensorflow/serving/predict");
  (*signature.mutable_inputs())[model.input_name] =
      Info(model.input_name + ":0", {-1, model.input_size});
  (*signature.mutable_outputs())["output_0"] = Info("output_0:0", {-1, output_features});
  if (model.add_probabilities) {
    (*signature.mutable_outputs())["probabilities"] =
        Info("probabilities:0", {-1, output_features});
  }
}

// The input's name is the client's (a Keras InputLayer name): it must not
// clash with a node the export makes itself (output_0, a layer's kernel...).
Status CheckUniqueNodeNames(const tf::GraphDef& graph, const std::string& input_name) {
  std::set<std::string> seen;
  for (const tf::NodeDef& node : graph.node()) {
    if (!seen.insert(node.name()).second) {
      return InvalidArgumentError("the input name '" + input_name + "' clashes with graph node '" +
                                  node.name() + "'; rename the model's Input layer");
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<tf::SavedModel> BuildSavedModel(const ExportModel& model) {
  ASSIGN_OR_RETURN(const int64_t output_features, CheckedOutputFeatures(model));
  tf::SavedModel saved_model;
  saved_model.set_saved_model_schema_version(1);
  tf::MetaGraphDef* meta = saved_model.add_meta_graphs();
  meta->mutable_meta_info_def()->add_tags("serve");
  meta->mutable_meta_info_def()->set_stripped_default_attrs(true);
  tf::GraphDef* graph = meta->mutable_graph_def();
  graph->mutable_versions()->set_producer(kGraphProducer);
  graph->mutable_versions()->set_min_consumer(kGraphMinConsumer);
  GraphBuilder builder(graph);
  std::vector<GraphVariable> variables = AddForward(builder, model);
  AddSaver(builder, std::move(variables), meta->mutable_saver_def());
  AddServingSignature(model, output_features, meta);
  RETURN_IF_ERROR(CheckUniqueNodeNames(*graph, model.input_name));
  return saved_model;
}

StatusOr<std::string> ExportSavedModel(const ExportModel& model, const std::string& base_path,
                                       int64_t version) {
  ASSIGN_OR_RETURN(tf::SavedModel saved_model, BuildSavedModel(model));
  FileSystem* fs = PosixFileSystem();
  RETURN_IF_ERROR(fs->CreateDirs(base_path));
  if (version <= 0) {
    ASSIGN_OR_RETURN(std::vector<std::string> entries, fs->ListDir(base_path));
    version = 0;
    for (const std::string& entry : entries) {
      if (!entry.empty() && entry.size() < 18 &&
          std::all_of(entry.begin(), entry.end(), ::isdigit)) {
        version = std::max<int64_t>(version, std::stoll(entry));
      }
    }
    ++version;
  }
  const std::string final_dir = JoinPath(base_path, std::to_string(version));
  if (fs->FileExists(final_dir)) {
    return AlreadyExistsError("version " + final_dir + " already exists; pick another --version");
  }
  std::random_device random;
  const std::string temp_dir =
      JoinPath(base_path, ".tmp-" + std::to_string(random()) + std::to_string(random()));
  RETURN_IF_ERROR(fs->CreateDirs(JoinPath(temp_dir, "variables")));
  // Weights under their TF1 names.
  ASSIGN_OR_RETURN(auto writer, BundleWriter::Open(fs, JoinPath(temp_dir, "variables/variables")));
  for (const ExportDense& layer : model.layers) {
    RETURN_IF_ERROR(writer->Add(layer.name + "/kernel", DType::kFloat32, {layer.in, layer.out},
                                layer.kernel.data(), layer.kernel.size() * sizeof(float)));
    if (!layer.bias.empty()) {
      RETURN_IF_ERROR(writer->Add(layer.name + "/bias", DType::kFloat32, {layer.out},
                                  layer.bias.data(), layer.bias.size() * sizeof(float)));
    }
  }
  RETURN_IF_ERROR(writer->Finish());
  RETURN_IF_ERROR(
      WriteSynced(fs, JoinPath(temp_dir, "saved_model.pb"), saved_model.SerializeAsString()));
  RETURN_IF_ERROR(fs->SyncDir(JoinPath(temp_dir, "variables")));
  RETURN_IF_ERROR(fs->SyncDir(temp_dir));
  RETURN_IF_ERROR(fs->Rename(temp_dir, final_dir));
  RETURN_IF_ERROR(fs->SyncDir(base_path));
  return final_dir;
}

}  // namespace shardtrain::storage::saved_model
