// GraphBuilder: appends NodeDefs to a GraphDef with the attrs TensorFlow's op
// registry names (tensorflow/core/ops/*.cc). Every helper adds nodes in call
// order, so the same calls give the same bytes. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/tf/graph.pb.h"

namespace shardtrain::storage::saved_model {

tf::TensorShapeProto ShapeProto(const std::vector<int64_t>& dims);

class GraphBuilder {
 public:
  explicit GraphBuilder(tf::GraphDef* graph) : graph_(graph) {}

  tf::NodeDef* Node(const std::string& name, const std::string& op,
                    std::vector<std::string> inputs = {});

  static void Type(tf::NodeDef* node, const char* attr, tf::DataType type);
  static void ShapeAttr(tf::NodeDef* node, const std::vector<int64_t>& dims);
  static void Str(tf::NodeDef* node, const char* attr, const std::string& value);
  static void Bool(tf::NodeDef* node, const char* attr, bool value);
  static void Float(tf::NodeDef* node, const char* attr, float value);
  static void Int(tf::NodeDef* node, const char* attr, int64_t value);
  static void Ints(tf::NodeDef* node, const char* attr, const std::vector<int64_t>& values);

  tf::NodeDef* StringConst(const std::string& name, const std::vector<std::string>& values,
                           bool scalar);
  tf::NodeDef* FloatConst(const std::string& name, float value);
  // A float vector Const (shape [values.size()]).
  tf::NodeDef* FloatsConst(const std::string& name, const std::vector<float>& values);
  // An int32 vector Const (shape [values.size()]), or a scalar when `scalar`.
  tf::NodeDef* Int32Const(const std::string& name, const std::vector<int32_t>& values,
                          bool scalar = false);

  // A float binary op (Mul, AddV2, RealDiv, Pow) of two tensors; returns its name.
  std::string Binary(const std::string& name, const char* op, const std::string& a,
                     const std::string& b);
  // A float unary op (Erf, Tanh, Relu...); returns its name.
  std::string Unary(const std::string& name, const char* op, const std::string& x);

 private:
  tf::GraphDef* graph_;
};

}  // namespace shardtrain::storage::saved_model
