#include "storage/saved_model/saved_model_writer.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <set>

#include "storage/io/file_system.h"
#include "storage/saved_model/graph_builder.h"
#include "storage/saved_model/layer_graph.h"
#include "storage/saved_model/layer_shapes.h"
#include "storage/tensor_bundle/bundle_writer.h"

namespace shardtrain::storage::saved_model {
namespace {

// GraphDef versions: producer of TF 1.12 (the oldest runtime we target) and the
// min_consumer TF writes (spec §4.4).
constexpr int kGraphProducer = 27;
constexpr int kGraphMinConsumer = 12;

// [-1, shape...]: a batch of examples of `shape`.
std::vector<int64_t> BatchShape(const ExampleShape& shape) {
  std::vector<int64_t> dims = {-1};
  dims.insert(dims.end(), shape.begin(), shape.end());
  return dims;
}

tf::TensorInfo Info(const std::string& name, const std::vector<int64_t>& dims) {
  tf::TensorInfo info;
  info.set_name(name);
  info.set_dtype(tf::DT_FLOAT);
  *info.mutable_tensor_shape() = ShapeProto(dims);
  return info;
}

Status WriteSynced(FileSystem* fs, const std::string& path, const std::string& bytes) {
  ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(path));
  RETURN_IF_ERROR(file->Append(bytes));
  RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

// `message` serialized with map entries sorted by key (signature_def, the
// NodeDefs' attrs, a signature's inputs/outputs): SerializeAsString emits
// maps in hash order, which changes from one process or write to the next,
// so the same model would give different saved_model.pb bytes.
StatusOr<std::string> SerializeDeterministically(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    if (!message.SerializeToCodedStream(&coded) || coded.HadError()) {
      return InternalError("cannot serialize " + message.GetTypeName());
    }
  }  // the coded stream flushes into `bytes` when it goes
  return bytes;
}

// A variable's name and shape, as the saver lists it.
using GraphVariable = std::pair<std::string, std::vector<int64_t>>;

// The forward graph: the input Placeholder (reshaped to its example shape when
// that has several dimensions), each layer's nodes (layer_graph.h), then
// output_0 (and probabilities). Returns the variables in graph order.
std::vector<GraphVariable> AddForward(GraphBuilder& b, const ExportModel& model,
                                      const std::vector<ExampleShape>& shapes) {
  const ExampleShape input_shape = ModelInputShape(model);
  tf::NodeDef* input = b.Node(model.input_name, "Placeholder");
  GraphBuilder::Type(input, "dtype", tf::DT_FLOAT);
  GraphBuilder::ShapeAttr(input, BatchShape(input_shape));
  std::map<std::string, std::pair<std::string, ExampleShape>> tensors;  // layer -> (tensor, shape)
  tensors[model.input_name] = {model.input_name, input_shape};
  if (input_shape.size() > 1) {
    tensors[model.input_name].first =
        AddReshape(b, model.input_name + "/Reshape", model.input_name, input_shape);
  }
  std::vector<GraphVariable> variables;
  std::string current;
  for (size_t k = 0; k < model.layers.size(); ++k) {
    const ExportLayer& layer = model.layers[k];
    std::vector<std::string> inputs;
    std::vector<ExampleShape> input_shapes;
    for (const std::string& name : LayerInputNames(model, k)) {
      inputs.push_back(tensors.at(name).first);
      input_shapes.push_back(tensors.at(name).second);
    }
    for (const LayerVariable& variable : LayerVariables(layer)) {
      variables.push_back({variable.name, variable.shape});
    }
    current = AddLayerNodes(b, layer, inputs, input_shapes);
    tensors[layer.name] = {current, shapes[k]};
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
// added, probabilities, each [-1, example shape...].
void AddServingSignature(const ExportModel& model, const ExampleShape& output_shape,
                         tf::MetaGraphDef* meta) {
  tf::SignatureDef& signature = (*meta->mutable_signature_def())["serving_default"];
  signature.set_method_name("tensorflow/serving/predict");
  (*signature.mutable_inputs())[model.input_name] =
      Info(model.input_name + ":0", BatchShape(ModelInputShape(model)));
  (*signature.mutable_outputs())["output_0"] = Info("output_0:0", BatchShape(output_shape));
  if (model.add_probabilities) {
    (*signature.mutable_outputs())["probabilities"] =
        Info("probabilities:0", BatchShape(output_shape));
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
  ASSIGN_OR_RETURN(const std::vector<ExampleShape> shapes, LayerOutputShapes(model));
  tf::SavedModel saved_model;
  saved_model.set_saved_model_schema_version(1);
  tf::MetaGraphDef* meta = saved_model.add_meta_graphs();
  meta->mutable_meta_info_def()->add_tags("serve");
  meta->mutable_meta_info_def()->set_stripped_default_attrs(true);
  tf::GraphDef* graph = meta->mutable_graph_def();
  graph->mutable_versions()->set_producer(kGraphProducer);
  graph->mutable_versions()->set_min_consumer(kGraphMinConsumer);
  GraphBuilder builder(graph);
  std::vector<GraphVariable> variables = AddForward(builder, model, shapes);
  AddSaver(builder, std::move(variables), meta->mutable_saver_def());
  AddServingSignature(model, shapes.back(), meta);
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
  for (const ExportLayer& layer : model.layers) {
    for (const LayerVariable& variable : LayerVariables(layer)) {
      RETURN_IF_ERROR(writer->Add(variable.name, DType::kFloat32, variable.shape,
                                  variable.values->data(),
                                  variable.values->size() * sizeof(float)));
    }
  }
  RETURN_IF_ERROR(writer->Finish());
  ASSIGN_OR_RETURN(std::string saved_model_bytes, SerializeDeterministically(saved_model));
  RETURN_IF_ERROR(WriteSynced(fs, JoinPath(temp_dir, "saved_model.pb"), saved_model_bytes));
  RETURN_IF_ERROR(fs->SyncDir(JoinPath(temp_dir, "variables")));
  RETURN_IF_ERROR(fs->SyncDir(temp_dir));
  RETURN_IF_ERROR(fs->Rename(temp_dir, final_dir));
  RETURN_IF_ERROR(fs->SyncDir(base_path));
  return final_dir;
}

}  // namespace shardtrain::storage::saved_model
