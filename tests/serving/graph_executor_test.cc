// GraphExecutor's op table: SupportedOps() lists it in order, and it covers
// every op of the SavedModels `shardtrain export` writes (for every
// activation, with and without bias and the probabilities output) that
// serving runs: all but the saver's SaveV2.
#include "serving/graph_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "storage/saved_model/saved_model_writer.h"

namespace shardtrain::serving {
namespace {

TEST(GraphExecutorTest, SupportedOpsAreSortedAndUnique) {
  const std::vector<std::string> ops = GraphExecutor::SupportedOps();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  EXPECT_EQ(std::set<std::string>(ops.begin(), ops.end()).size(), ops.size());
  for (const char* op : {"MatMul", "BiasAdd", "Relu", "Softmax", "RestoreV2", "Placeholder"}) {
    EXPECT_TRUE(std::binary_search(ops.begin(), ops.end(), op)) << op;
  }
}

TEST(GraphExecutorTest, EveryOpOfOurExportsIsSupported) {
  const std::vector<std::string> supported = GraphExecutor::SupportedOps();
  storage::saved_model::ExportModel model;
  model.input_size = 3;
  model.add_probabilities = true;
  int64_t in = 3;
  for (const char* activation : {"linear", "relu", "sigmoid", "tanh", "softmax"}) {
    storage::saved_model::ExportLayer dense;
    dense.name = std::string("dense_") + activation;
    dense.in = in;
    dense.out = 2;
    dense.kernel.assign(static_cast<size_t>(in * 2), 0.5f);
    if (std::string(activation) != "tanh") dense.bias.assign(2, 0.25f);  // one without bias
    dense.activation = activation;
    model.layers.push_back(dense);
    in = 2;
  }
  StatusOr<tf::SavedModel> saved = storage::saved_model::BuildSavedModel(model);
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->meta_graphs_size(), 1);
  for (const tf::NodeDef& node : saved->meta_graphs(0).graph_def().node()) {
    if (node.op() == "SaveV2") continue;  // the saver's save op: serving only restores
    EXPECT_TRUE(std::binary_search(supported.begin(), supported.end(), node.op()))
        << "node '" << node.name() << "' has op " << node.op();
  }
}

}  // namespace
}  // namespace shardtrain::serving
