#include "storage/saved_model/graph_builder.h"

namespace shardtrain::storage::saved_model {

tf::TensorShapeProto ShapeProto(const std::vector<int64_t>& dims) {
  tf::TensorShapeProto shape;
  for (int64_t d : dims) shape.add_dim()->set_size(d);
  return shape;
}

tf::NodeDef* GraphBuilder::Node(const std::string& name, const std::string& op,
                                std::vector<std::string> inputs) {
  tf::NodeDef* node = graph_->add_node();
  node->set_name(name);
  node->set_op(op);
  for (std::string& input : inputs) node->add_input(std::move(input));
  return node;
}

void GraphBuilder::Type(tf::NodeDef* node, const char* attr, tf::DataType type) {
  (*node->mutable_attr())[attr].set_type(type);
}

void GraphBuilder::ShapeAttr(tf::NodeDef* node, const std::vector<int64_t>& dims) {
  *(*node->mutable_attr())["shape"].mutable_shape() = ShapeProto(dims);
}

void GraphBuilder::Str(tf::NodeDef* node, const char* attr, const std::string& value) {
  (*node->mutable_attr())[attr].set_s(value);
}

void GraphBuilder::Bool(tf::NodeDef* node, const char* attr, bool value) {
  (*node->mutable_attr())[attr].set_b(value);
}

void GraphBuilder::Float(tf::NodeDef* node, const char* attr, float value) {
  (*node->mutable_attr())[attr].set_f(value);
}

void GraphBuilder::Int(tf::NodeDef* node, const char* attr, int64_t value) {
  (*node->mutable_attr())[attr].set_i(value);
}

void GraphBuilder::Ints(tf::NodeDef* node, const char* attr, const std::vector<int64_t>& values) {
  tf::AttrValue::ListValue* list = (*node->mutable_attr())[attr].mutable_list();
  for (int64_t v : values) list->add_i(v);
}

tf::NodeDef* GraphBuilder::StringConst(const std::string& name,
                                       const std::vector<std::string>& values, bool scalar) {
  tf::NodeDef* node = Node(name, "Const");
  Type(node, "dtype", tf::DT_STRING);
  tf::TensorProto* tensor = (*node->mutable_attr())["value"].mutable_tensor();
  tensor->set_dtype(tf::DT_STRING);
  *tensor->mutable_tensor_shape() =
      scalar ? ShapeProto({}) : ShapeProto({static_cast<int64_t>(values.size())});
  for (const std::string& v : values) tensor->add_string_val(v);
  return node;
}

tf::NodeDef* GraphBuilder::FloatConst(const std::string& name, float value) {
  tf::NodeDef* node = Node(name, "Const");
  Type(node, "dtype", tf::DT_FLOAT);
  tf::TensorProto* tensor = (*node->mutable_attr())["value"].mutable_tensor();
  tensor->set_dtype(tf::DT_FLOAT);
  *tensor->mutable_tensor_shape() = ShapeProto({});
  tensor->add_float_val(value);
  return node;
}

tf::NodeDef* GraphBuilder::FloatsConst(const std::string& name, const std::vector<float>& values) {
  tf::NodeDef* node = Node(name, "Const");
  Type(node, "dtype", tf::DT_FLOAT);
  tf::TensorProto* tensor = (*node->mutable_attr())["value"].mutable_tensor();
  tensor->set_dtype(tf::DT_FLOAT);
  *tensor->mutable_tensor_shape() = ShapeProto({static_cast<int64_t>(values.size())});
  for (float v : values) tensor->add_float_val(v);
  return node;
}

tf::NodeDef* GraphBuilder::Int32Const(const std::string& name, const std::vector<int32_t>& values,
                                      bool scalar) {
  tf::NodeDef* node = Node(name, "Const");
  Type(node, "dtype", tf::DT_INT32);
  tf::TensorProto* tensor = (*node->mutable_attr())["value"].mutable_tensor();
  tensor->set_dtype(tf::DT_INT32);
  *tensor->mutable_tensor_shape() =
      scalar ? ShapeProto({}) : ShapeProto({static_cast<int64_t>(values.size())});
  for (int32_t v : values) tensor->add_int_val(v);
  return node;
}

std::string GraphBuilder::Binary(const std::string& name, const char* op, const std::string& a,
                                 const std::string& b) {
  Type(Node(name, op, {a, b}), "T", tf::DT_FLOAT);
  return name;
}

std::string GraphBuilder::Unary(const std::string& name, const char* op, const std::string& x) {
  Type(Node(name, op, {x}), "T", tf::DT_FLOAT);
  return name;
}

}  // namespace shardtrain::storage::saved_model
