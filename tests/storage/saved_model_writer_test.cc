// The SavedModel writer's layer graph (storage/saved_model): a Dense stack
// gives the graph and variables of the Dense-only writer (golden files written
// by that writer at 53ae792 for the model below), each convolutional /
// residual layer gives the ops and attrs of TensorFlow's op registry
// (tensorflow/core/ops/nn_ops.cc, math_ops.cc, array_ops.cc), and an
// inconsistent layer is refused naming it.
#include "storage/saved_model/saved_model_writer.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "tests/storage/temp_files_test_util.h"

namespace shardtrain::storage::saved_model {
namespace {

const std::string kGolden =
    std::string(SHARDTRAIN_SOURCE_DIR) + "/tests/storage/saved_model_dense_golden/";

// Four Dense layers: relu, gelu, gelu_approximate without bias, linear; probabilities.
ExportModel DenseStack() {
  ExportModel model;
  model.input_name = "x";
  model.input_size = 3;
  model.add_probabilities = true;
  const char* activations[] = {"relu", "gelu", "gelu_approximate", "linear"};
  int64_t in = 3;
  for (int k = 0; k < 4; ++k) {
    ExportLayer dense;
    dense.name = k == 0 ? "dense" : "dense_" + std::to_string(k);
    dense.in = in;
    dense.out = 2;
    for (int i = 0; i < in * 2; ++i) dense.kernel.push_back(0.1f * (i + 1) * (k + 1));
    if (k != 2) dense.bias = {0.5f, -0.25f};
    dense.activation = activations[k];
    model.layers.push_back(dense);
    in = 2;
  }
  return model;
}

TEST(SavedModelWriterTest, DenseStackGraphAndVariablesAreTheDenseWritersBytes) {
  auto saved = BuildSavedModel(DenseStack());
  ASSERT_TRUE(saved.ok()) << saved.status();
  tf::SavedModel golden;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      test_files::ReadBytes(kGolden + "saved_model.pbtxt"), &golden));
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(golden, *saved)) << difference;

  test_files::TempDir dir;
  auto written = ExportSavedModel(DenseStack(), dir.File("base"), 1);
  ASSERT_TRUE(written.ok()) << written.status();
  for (const char* file : {"variables.index", "variables.data-00000-of-00001"}) {
    EXPECT_EQ(test_files::ReadBytes(*written + "/variables/" + file),
              test_files::ReadBytes(kGolden + file))
        << file;
  }
}

ExportLayer Layer(ExportLayerKind kind, const std::string& name,
                  std::vector<std::string> inputs = {}) {
  ExportLayer layer;
  layer.kind = kind;
  layer.name = name;
  layer.inputs = std::move(inputs);
  return layer;
}

ExportLayer Conv(const std::string& name, int64_t in, int64_t out, int64_t window, bool bias) {
  ExportLayer conv = Layer(ExportLayerKind::kConv2D, name);
  conv.in = in;
  conv.out = out;
  conv.window_h = conv.window_w = window;
  conv.same_padding = true;
  conv.kernel.assign(static_cast<size_t>(window * window * in * out), 0.5f);
  if (bias) conv.bias.assign(static_cast<size_t>(out), 0.25f);
  return conv;
}

ExportLayer BatchNorm(const std::string& name, int64_t channels, bool scale_and_center) {
  ExportLayer bn = Layer(ExportLayerKind::kBatchNormalization, name);
  const size_t n = static_cast<size_t>(channels);
  if (scale_and_center) {
    bn.gamma.assign(n, 2.0f);
    bn.beta.assign(n, 1.0f);
  }
  bn.moving_mean.assign(n, 0.5f);
  bn.moving_variance.assign(n, 4.0f);
  return bn;
}

ExportLayer Window(ExportLayerKind kind, const std::string& name, std::vector<std::string> inputs,
                   int64_t window, int64_t stride, bool same) {
  ExportLayer pool = Layer(kind, name, std::move(inputs));
  pool.window_h = pool.window_w = window;
  pool.stride_h = pool.stride_w = stride;
  pool.same_padding = same;
  return pool;
}

// image (4, 4, 2) -> conv2d 3x3 relu -> batch_normalization -> conv2d_1 1x1 ->
// add(bn, conv2d_1, conv2d) -> max_pooling2d 2/2 valid | average_pooling2d 3/2
// same (from add) -> concatenate -> global_average_pooling2d ->
// batch_normalization_1 (no scale/center, flat) -> reshape (2, 3) -> reshape_1 (6) -> dense 2.
ExportModel ResidualCnn() {
  ExportModel model;
  model.input_name = "image";
  model.input_size = 32;
  model.input_shape = {4, 4, 2};
  model.layers.push_back(Conv("conv2d", 2, 3, 3, true));
  model.layers.back().activation = "relu";
  model.layers.push_back(BatchNorm("batch_normalization", 3, true));
  model.layers.push_back(Conv("conv2d_1", 3, 3, 1, false));
  model.layers.push_back(
      Layer(ExportLayerKind::kAdd, "add", {"batch_normalization", "conv2d_1", "conv2d"}));
  model.layers.push_back(Window(ExportLayerKind::kMaxPool, "max_pooling2d", {}, 2, 2, false));
  model.layers.push_back(
      Window(ExportLayerKind::kAvgPool, "average_pooling2d", {"add"}, 3, 2, true));
  model.layers.push_back(
      Layer(ExportLayerKind::kConcatenate, "concatenate", {"max_pooling2d", "average_pooling2d"}));
  model.layers.push_back(Layer(ExportLayerKind::kGlobalAvgPool, "global_average_pooling2d"));
  model.layers.push_back(BatchNorm("batch_normalization_1", 6, false));
  model.layers.push_back(Layer(ExportLayerKind::kReshape, "reshape"));
  model.layers.back().target_shape = {2, 3};
  model.layers.push_back(Layer(ExportLayerKind::kReshape, "reshape_1"));
  model.layers.back().target_shape = {6};
  ExportLayer dense = Layer(ExportLayerKind::kDense, "dense");
  dense.in = 6;
  dense.out = 2;
  dense.kernel.assign(12, 0.1f);
  model.layers.push_back(dense);
  return model;
}

const tf::NodeDef& Node(const tf::SavedModel& saved, const std::string& name) {
  for (const tf::NodeDef& node : saved.meta_graphs(0).graph_def().node()) {
    if (node.name() == name) return node;
  }
  ADD_FAILURE() << "no node " << name;
  static const tf::NodeDef kNone;
  return kNone;
}

std::vector<std::string> Inputs(const tf::NodeDef& node) {
  return {node.input().begin(), node.input().end()};
}

std::vector<int64_t> IntList(const tf::NodeDef& node, const std::string& attr) {
  const auto& list = node.attr().at(attr).list().i();
  return {list.begin(), list.end()};
}

std::vector<int> ConstInts(const tf::NodeDef& node) {
  const auto& values = node.attr().at("value").tensor().int_val();
  return {values.begin(), values.end()};
}

TEST(SavedModelWriterTest, ConvolutionalLayersUseTheOpRegistrysAttrs) {
  auto saved = BuildSavedModel(ResidualCnn());
  ASSERT_TRUE(saved.ok()) << saved.status();
  const tf::SignatureDef& signature = saved->meta_graphs(0).signature_def().at("serving_default");
  EXPECT_EQ(signature.inputs().at("image").tensor_shape().dim_size(), 4);
  EXPECT_EQ(signature.outputs().at("output_0").tensor_shape().dim(1).size(), 2);
  EXPECT_EQ(ConstInts(Node(*saved, "image/Reshape/shape")), (std::vector<int>{-1, 4, 4, 2}));

  const tf::NodeDef& conv = Node(*saved, "conv2d/Conv2D");
  EXPECT_EQ(conv.op(), "Conv2D");
  EXPECT_EQ(Inputs(conv),
            (std::vector<std::string>{"image/Reshape", "conv2d/kernel/Read/ReadVariableOp"}));
  EXPECT_EQ(conv.attr().at("T").type(), tf::DT_FLOAT);
  EXPECT_EQ(IntList(conv, "strides"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(IntList(conv, "dilations"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_TRUE(IntList(conv, "explicit_paddings").empty());
  EXPECT_EQ(conv.attr().at("padding").s(), "SAME");
  EXPECT_EQ(conv.attr().at("data_format").s(), "NHWC");
  EXPECT_TRUE(conv.attr().at("use_cudnn_on_gpu").b());
  EXPECT_EQ(Inputs(Node(*saved, "conv2d/Relu")), (std::vector<std::string>{"conv2d/BiasAdd"}));
  EXPECT_EQ(Node(*saved, "conv2d/BiasAdd").attr().at("data_format").s(), "NHWC");

  const tf::NodeDef& bn = Node(*saved, "batch_normalization/FusedBatchNormV3");
  EXPECT_EQ(Inputs(bn), (std::vector<std::string>{
                            "conv2d/Relu", "batch_normalization/gamma/Read/ReadVariableOp",
                            "batch_normalization/beta/Read/ReadVariableOp",
                            "batch_normalization/moving_mean/Read/ReadVariableOp",
                            "batch_normalization/moving_variance/Read/ReadVariableOp"}));
  EXPECT_FALSE(bn.attr().at("is_training").b());
  EXPECT_FLOAT_EQ(bn.attr().at("epsilon").f(), 1e-3f);
  EXPECT_FLOAT_EQ(bn.attr().at("exponential_avg_factor").f(), 1.0f);
  EXPECT_EQ(bn.attr().at("U").type(), tf::DT_FLOAT);
  EXPECT_EQ(bn.attr().at("data_format").s(), "NHWC");

  EXPECT_EQ(Inputs(Node(*saved, "add/add")),
            (std::vector<std::string>{"batch_normalization/FusedBatchNormV3", "conv2d_1/Conv2D"}));
  EXPECT_EQ(Inputs(Node(*saved, "add/add_1")),
            (std::vector<std::string>{"add/add", "conv2d/Relu"}));
  EXPECT_EQ(Node(*saved, "add/add_1").op(), "AddV2");

  const tf::NodeDef& max = Node(*saved, "max_pooling2d/MaxPool");
  EXPECT_EQ(IntList(max, "ksize"), (std::vector<int64_t>{1, 2, 2, 1}));
  EXPECT_EQ(max.attr().at("padding").s(), "VALID");
  const tf::NodeDef& avg = Node(*saved, "average_pooling2d/AvgPool");
  EXPECT_EQ(Inputs(avg), (std::vector<std::string>{"add/add_1"}));
  EXPECT_EQ(IntList(avg, "strides"), (std::vector<int64_t>{1, 2, 2, 1}));
  EXPECT_EQ(avg.attr().at("padding").s(), "SAME");

  const tf::NodeDef& concat = Node(*saved, "concatenate/concat");
  EXPECT_EQ(concat.op(), "ConcatV2");
  EXPECT_EQ(Inputs(concat),
            (std::vector<std::string>{"max_pooling2d/MaxPool", "average_pooling2d/AvgPool",
                                      "concatenate/concat/axis"}));
  EXPECT_EQ(concat.attr().at("N").i(), 2);
  EXPECT_EQ(concat.attr().at("Tidx").type(), tf::DT_INT32);
  EXPECT_EQ(ConstInts(Node(*saved, "concatenate/concat/axis")), (std::vector<int>{-1}));

  const tf::NodeDef& mean = Node(*saved, "global_average_pooling2d/Mean");
  EXPECT_FALSE(mean.attr().at("keep_dims").b());
  EXPECT_EQ(ConstInts(Node(*saved, "global_average_pooling2d/Mean/reduction_indices")),
            (std::vector<int>{1, 2}));

  // A flat batch normalization without gamma/beta: Consts, over a [-1, 1, 1, c] view.
  EXPECT_EQ(ConstInts(Node(*saved, "batch_normalization_1/Reshape/shape")),
            (std::vector<int>{-1, 1, 1, 6}));
  EXPECT_EQ(Node(*saved, "batch_normalization_1/Const").attr().at("value").tensor().float_val(0),
            1.0f);
  EXPECT_EQ(ConstInts(Node(*saved, "batch_normalization_1/Reshape_1/shape")),
            (std::vector<int>{-1, 6}));
  EXPECT_EQ(ConstInts(Node(*saved, "reshape/Reshape/shape")), (std::vector<int>{-1, 2, 3}));
  EXPECT_EQ(Node(*saved, "reshape/Reshape").attr().at("Tshape").type(), tf::DT_INT32);
  EXPECT_EQ(Inputs(Node(*saved, "output_0")), (std::vector<std::string>{"dense/MatMul"}));
}

TEST(SavedModelWriterTest, ConvolutionalVariablesUseKerasNamesAndLayouts) {
  test_files::TempDir dir;
  auto written = ExportSavedModel(ResidualCnn(), dir.File("base"), 0);
  ASSERT_TRUE(written.ok()) << written.status();
  auto reader = BundleReader::Open(PosixFileSystem(), *written + "/variables/variables");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->Keys(),
            (std::vector<std::string>{
                "batch_normalization/beta", "batch_normalization/gamma",
                "batch_normalization/moving_mean", "batch_normalization/moving_variance",
                "batch_normalization_1/moving_mean", "batch_normalization_1/moving_variance",
                "conv2d/bias", "conv2d/kernel", "conv2d_1/kernel", "dense/kernel"}));
  auto kernel = (*reader)->Entry("conv2d/kernel");
  ASSERT_TRUE(kernel.ok());
  std::vector<int64_t> dims;
  for (const auto& dim : kernel->shape().dim()) dims.push_back(dim.size());
  EXPECT_EQ(dims, (std::vector<int64_t>{3, 3, 2, 3}));
  std::vector<float> variance(3);
  ASSERT_TRUE((*reader)->Read("batch_normalization/moving_variance", variance.data(), 12).ok());
  EXPECT_EQ(variance, (std::vector<float>{4, 4, 4}));
}

// Builds ResidualCnn() changed by `edit` and returns the error's message.
template <typename Edit>
std::string ErrorOf(Edit edit) {
  ExportModel model = ResidualCnn();
  edit(model);
  auto saved = BuildSavedModel(model);
  EXPECT_EQ(saved.status().code(), StatusCode::kInvalidArgument);
  return std::string(saved.status().message());
}

TEST(SavedModelWriterTest, InconsistentLayersAreRefusedNamingThem) {
  EXPECT_NE(ErrorOf([](ExportModel& m) {
              m.layers[0].kernel.pop_back();
            }).find("layer 'conv2d': kernel has 53 values, expected 54"),
            std::string::npos);
  EXPECT_NE(ErrorOf([](ExportModel& m) {
              m.layers[3].inputs[2] = "nope";
            }).find("layer 'add': input 'nope'"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf([](ExportModel& m) { m.layers[3].inputs[2] = "max_pooling2d"; }).find("layer 'add'"),
      std::string::npos);
  EXPECT_NE(ErrorOf([](ExportModel& m) {
              m.layers[1].moving_mean.pop_back();
            }).find("layer 'batch_normalization': moving_mean"),
            std::string::npos);
  EXPECT_NE(ErrorOf([](ExportModel& m) { m.layers[4].window_h = 5; }).find("'max_pooling2d'"),
            std::string::npos);
  EXPECT_NE(ErrorOf([](ExportModel& m) { m.layers[9].target_shape = {4}; }).find("'reshape'"),
            std::string::npos);
  EXPECT_NE(ErrorOf([](ExportModel& m) {
              m.layers.erase(m.layers.begin() + 10);
            }).find("layer 'dense' has inconsistent sizes"),
            std::string::npos);
}

}  // namespace
}  // namespace shardtrain::storage::saved_model
