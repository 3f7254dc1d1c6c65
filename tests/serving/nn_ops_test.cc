// The serving runtime's convolutional ops (serving/nn_ops.h) run through
// GraphExecutor on one-op graphs: each against values computed independently
// by tests/serving/nn_ops_expected.py (PyTorch), and refusals of what the
// runtime does not run (NCHW, dilations, training-mode batch norm) or of
// malformed nodes, with the node named in the error.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "serving/graph_executor.h"

namespace shardtrain::serving {
namespace {

Tensor Floats(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t = Tensor::Floats(std::move(shape));
  t.f = std::move(values);
  return t;
}

Tensor Ints(std::vector<int64_t> shape, std::vector<int64_t> values) {
  Tensor t;
  t.dtype = DType::kInt32;
  t.shape = std::move(shape);
  t.i = std::move(values);
  return t;
}

std::vector<float> Range(int n, float sign = 1.0f) {
  std::vector<float> v;
  for (int k = 1; k <= n; ++k) v.push_back(sign * static_cast<float>(k));
  return v;
}

void SetInts(tf::NodeDef* node, const char* attr, std::vector<int64_t> values) {
  auto* list = (*node->mutable_attr())[attr].mutable_list();
  for (int64_t v : values) list->add_i(v);
}
void SetStr(tf::NodeDef* node, const char* attr, const std::string& value) {
  (*node->mutable_attr())[attr].set_s(value);
}

// A graph of placeholders "in0", "in1"... feeding one node "op" of `op`;
// `attrs` sets its attributes. Runs it with `inputs` and returns output `index`.
class OneOp {
 public:
  explicit OneOp(const std::string& op, size_t inputs) {
    for (size_t k = 0; k < inputs; ++k) {
      tf::NodeDef* in = graph_.add_node();
      in->set_name("in" + std::to_string(k));
      in->set_op("Placeholder");
    }
    node_ = graph_.add_node();
    node_->set_name("op");
    node_->set_op(op);
    for (size_t k = 0; k < inputs; ++k) node_->add_input("in" + std::to_string(k));
  }
  tf::NodeDef* node() { return node_; }
  StatusOr<Tensor> Run(const std::vector<Tensor>& inputs, int index = 0) {
    ASSIGN_OR_RETURN(auto executor, GraphExecutor::Create(graph_));
    std::map<std::string, Tensor> feeds;
    for (size_t k = 0; k < inputs.size(); ++k) feeds["in" + std::to_string(k)] = inputs[k];
    VariableStore variables;
    ASSIGN_OR_RETURN(std::vector<Tensor> out,
                     executor->Run(feeds, {"op:" + std::to_string(index)}, {}, &variables));
    return out[0];
  }

 private:
  tf::GraphDef graph_;
  tf::NodeDef* node_;
};

// Filter (2, 2, 1, 2): channel 0 = [[1, 0], [0, 1]], channel 1 = [[1, 2], [3, 4]].
Tensor Filter() { return Floats({2, 2, 1, 2}, {1, 1, 0, 2, 0, 3, 1, 4}); }

OneOp Conv(const std::string& padding, int64_t stride) {
  OneOp conv("Conv2D", 2);
  SetInts(conv.node(), "strides", {1, stride, stride, 1});
  SetStr(conv.node(), "padding", padding);
  SetStr(conv.node(), "data_format", "NHWC");
  SetInts(conv.node(), "dilations", {1, 1, 1, 1});
  return conv;
}

TEST(NnOpsTest, Conv2DValidAndSameWithStride) {
  auto valid = Conv("VALID", 1).Run({Floats({1, 3, 3, 1}, Range(9)), Filter()});
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->shape, (std::vector<int64_t>{1, 2, 2, 2}));
  EXPECT_EQ(valid->f, (std::vector<float>{6, 37, 8, 47, 12, 67, 14, 77}));
  auto same = Conv("SAME", 2).Run({Floats({1, 3, 3, 1}, Range(9)), Filter()});
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->shape, (std::vector<int64_t>{1, 2, 2, 2}));
  EXPECT_EQ(same->f, (std::vector<float>{6, 37, 3, 21, 7, 23, 9, 9}));
}

OneOp Pool(const char* op) {
  OneOp pool(op, 1);
  SetInts(pool.node(), "ksize", {1, 2, 2, 1});
  SetInts(pool.node(), "strides", {1, 2, 2, 1});
  SetStr(pool.node(), "padding", "SAME");
  return pool;
}

TEST(NnOpsTest, PoolingSkipsPaddedPositions) {
  auto max = Pool("MaxPool").Run({Floats({1, 3, 3, 1}, Range(9, -1.0f))});
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->shape, (std::vector<int64_t>{1, 2, 2, 1}));
  EXPECT_EQ(max->f, (std::vector<float>{-1, -3, -7, -9}));
  auto avg = Pool("AvgPool").Run({Floats({1, 3, 3, 1}, Range(9))});
  ASSERT_TRUE(avg.ok()) << avg.status();
  EXPECT_EQ(avg->f, (std::vector<float>{3, 4.5f, 7.5f, 9}));
}

TEST(NnOpsTest, MeanOverHeightAndWidthKeepsDimsOnRequest) {
  OneOp mean("Mean", 2);
  auto flat = mean.Run({Floats({1, 2, 2, 2}, Range(8)), Ints({2}, {1, 2})});
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(flat->f, (std::vector<float>{4, 5}));
  (*mean.node()->mutable_attr())["keep_dims"].set_b(true);
  auto kept = mean.Run({Floats({1, 2, 2, 2}, Range(8)), Ints({2}, {-2, -3})});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->shape, (std::vector<int64_t>{1, 1, 1, 2}));
  auto other_axes = mean.Run({Floats({1, 2, 2, 2}, Range(8)), Ints({1}, {3})});
  EXPECT_EQ(other_axes.status().code(), StatusCode::kUnimplemented);
}

OneOp BatchNorm(bool is_training) {
  OneOp bn("FusedBatchNormV3", 5);
  (*bn.node()->mutable_attr())["is_training"].set_b(is_training);
  (*bn.node()->mutable_attr())["epsilon"].set_f(0.0f);
  return bn;
}

std::vector<Tensor> BatchNormInputs() {
  return {Floats({1, 1, 2, 2}, {1, 2, 3, 4}), Floats({2}, {2, 1}), Floats({2}, {0.5f, -1}),
          Floats({2}, {2, 3}), Floats({2}, {4, 1})};
}

TEST(NnOpsTest, FusedBatchNormV3InferenceUsesTheGivenStatistics) {
  auto y = BatchNorm(false).Run(BatchNormInputs());
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape, (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ(y->f, (std::vector<float>{-0.5f, -2, 1.5f, 0}));
  auto batch_mean = BatchNorm(false).Run(BatchNormInputs(), 1);
  ASSERT_TRUE(batch_mean.ok()) << batch_mean.status();
  EXPECT_EQ(batch_mean->f, (std::vector<float>{2, 3}));
  auto training = BatchNorm(true).Run(BatchNormInputs());
  EXPECT_EQ(training.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(training.status().message().find("is_training"), std::string::npos);
  std::vector<Tensor> short_scale = BatchNormInputs();
  short_scale[1] = Floats({1}, {2});
  EXPECT_EQ(BatchNorm(false).Run(short_scale).status().code(), StatusCode::kInvalidArgument);
}

TEST(NnOpsTest, ConcatV2JoinsTheLastAxis) {
  OneOp concat("ConcatV2", 3);
  (*concat.node()->mutable_attr())["N"].set_i(2);
  Tensor axis = Ints({}, {-1});
  auto y = concat.Run({Floats({1, 2, 1}, {1, 2}), Floats({1, 2, 2}, {3, 4, 5, 6}), axis});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(y->f, (std::vector<float>{1, 3, 4, 2, 5, 6}));
  auto mismatch = concat.Run({Floats({1, 1, 1}, {1}), Floats({1, 2, 2}, {3, 4, 5, 6}), axis});
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
}

TEST(NnOpsTest, UnsupportedAttrsAreRefusedNamingTheNode) {
  OneOp nchw = Conv("VALID", 1);
  SetStr(nchw.node(), "data_format", "NCHW");
  auto s = nchw.Run({Floats({1, 3, 3, 1}, Range(9)), Filter()}).status();
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("node 'op' (Conv2D)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("NCHW"), std::string::npos) << s;

  OneOp dilated = Conv("VALID", 1);
  (*dilated.node()->mutable_attr())["dilations"].mutable_list()->set_i(1, 2);
  s = dilated.Run({Floats({1, 3, 3, 1}, Range(9)), Filter()}).status();
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("dilations"), std::string::npos) << s;

  OneOp pool_nchw = Pool("MaxPool");
  SetStr(pool_nchw.node(), "data_format", "NCHW");
  EXPECT_EQ(pool_nchw.Run({Floats({1, 3, 3, 1}, Range(9))}).status().code(),
            StatusCode::kUnimplemented);
}

TEST(NnOpsTest, MalformedNodesAndInputsAreInvalidArgument) {
  OneOp zero_stride = Conv("VALID", 1);
  (*zero_stride.node()->mutable_attr())["strides"].mutable_list()->set_i(1, 0);
  EXPECT_EQ(zero_stride.Run({Floats({1, 3, 3, 1}, Range(9)), Filter()}).status().code(),
            StatusCode::kInvalidArgument);
  // The filter's depth (1) differs from the input's channels (2).
  EXPECT_EQ(Conv("VALID", 1).Run({Floats({1, 3, 3, 2}, Range(18)), Filter()}).status().code(),
            StatusCode::kInvalidArgument);
  // A window larger than the input leaves no VALID output.
  EXPECT_EQ(Conv("VALID", 1).Run({Floats({1, 1, 1, 1}, {1}), Filter()}).status().code(),
            StatusCode::kInvalidArgument);
  // Negative dimensions whose product matches the data are still refused.
  EXPECT_EQ(Conv("VALID", 1).Run({Floats({-1, -1, 3, 3}, Range(9)), Filter()}).status().code(),
            StatusCode::kInvalidArgument);
  // A rank-2 input (flat rows) is not an image.
  EXPECT_EQ(Conv("VALID", 1).Run({Floats({1, 9}, Range(9)), Filter()}).status().code(),
            StatusCode::kInvalidArgument);
  // A hostile window is refused before anything is allocated or computed.
  OneOp huge = Pool("AvgPool");
  (*huge.node()->mutable_attr())["ksize"].mutable_list()->set_i(1, int64_t{1} << 40);
  (*huge.node()->mutable_attr())["ksize"].mutable_list()->set_i(2, int64_t{1} << 40);
  auto s = huge.Run({Floats({1, 3, 3, 1}, Range(9))}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("node 'op' (AvgPool)"), std::string::npos) << s;
  // A filter whose element count wraps to 0 in int64 (2^32 x 2^32) with no data.
  Tensor wrapped;
  wrapped.dtype = DType::kFloat32;
  wrapped.shape = {int64_t{1} << 32, int64_t{1} << 32, 1, 1};
  EXPECT_EQ(Conv("SAME", 1).Run({Floats({1, 3, 3, 1}, Range(9)), wrapped}).status().code(),
            StatusCode::kInvalidArgument);
  OneOp no_padding("MaxPool", 1);
  SetInts(no_padding.node(), "ksize", {1, 2, 2, 1});
  SetInts(no_padding.node(), "strides", {1, 1, 1, 1});
  EXPECT_EQ(no_padding.Run({Floats({1, 3, 3, 1}, Range(9))}).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shardtrain::serving
