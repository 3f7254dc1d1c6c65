// KerasLayerOrder and CheckKerasLayerOrder (keras_layer_order.h): Keras's
// map_graph order (decreasing depth, ties by first reach of a depth-first
// traversal from the output) for our layer graph.
#include "worker/model/keras_layer_order.h"

#include <algorithm>
#include <utility>

namespace shardtrain::model {
namespace {

constexpr int kUnreached = -1;

// Longest path from each layer to the output (the last layer); layers list
// their inputs before them, so one backward sweep settles every depth.
std::vector<int> Depths(const std::vector<std::vector<int>>& inputs) {
  const int n = static_cast<int>(inputs.size());
  std::vector<int> depth(static_cast<size_t>(n), kUnreached);
  if (n == 0) return depth;
  depth.back() = 0;
  for (int i = n - 1; i >= 0; --i) {
    const int d = depth[static_cast<size_t>(i)];
    if (d == kUnreached) continue;
    for (int p : inputs[static_cast<size_t>(i)]) {
      if (p < 0 || p >= i) continue;  // the model's input (or not a graph edge)
      int& to = depth[static_cast<size_t>(p)];
      to = std::max(to, d + 1);
    }
  }
  return depth;
}

// The index at which a depth-first traversal from the output, taking each
// layer's inputs in order, first reaches each layer (Keras's
// operation_indices); iterative, so a deep model cannot overflow the stack.
std::vector<int> FirstReached(const std::vector<std::vector<int>>& inputs) {
  const int n = static_cast<int>(inputs.size());
  std::vector<int> reached(static_cast<size_t>(n), kUnreached);
  if (n == 0) return reached;
  int next = 0;
  reached.back() = next++;
  std::vector<std::pair<int, size_t>> stack = {{n - 1, 0}};
  while (!stack.empty()) {
    const int layer = stack.back().first;
    const std::vector<int>& in = inputs[static_cast<size_t>(layer)];
    if (stack.back().second == in.size()) {
      stack.pop_back();
      continue;
    }
    const int p = in[stack.back().second++];
    if (p < 0 || p >= layer || reached[static_cast<size_t>(p)] != kUnreached) continue;
    reached[static_cast<size_t>(p)] = next++;
    stack.emplace_back(p, 0);
  }
  return reached;
}

std::string Names(const Model& model, const std::vector<int>& order) {
  std::string out;
  for (int i : order) {
    out += (out.empty() ? "" : ", ") + model.layers()[static_cast<size_t>(i)].name;
  }
  return out;
}

}  // namespace

std::vector<int> KerasLayerOrder(const std::vector<std::vector<int>>& inputs) {
  const std::vector<int> depth = Depths(inputs);
  const std::vector<int> reached = FirstReached(inputs);
  std::vector<int> order(inputs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  // Unreached layers (depth -1) sort last; among them reached is -1 too, and
  // the stable sort keeps config order.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const size_t i = static_cast<size_t>(a), j = static_cast<size_t>(b);
    if (depth[i] != depth[j]) return depth[i] > depth[j];
    return reached[i] < reached[j];
  });
  return order;
}

std::vector<int> KerasLayerOrder(const Model& model) {
  std::vector<std::vector<int>> inputs;
  for (const Model::Layer& layer : model.layers()) inputs.push_back(layer.inputs);
  return KerasLayerOrder(inputs);
}

std::string KerasLayerOrderMismatch(const Model& model) {
  const std::vector<int> keras = KerasLayerOrder(model);
  std::vector<int> ours(keras.size());
  for (size_t i = 0; i < ours.size(); ++i) ours[i] = static_cast<int>(i);
  if (keras == ours) return "";
  return "the config lists this Functional model's layers as [" + Names(model, ours) +
         "] but Keras orders them (model.layers, after the InputLayer '" + model.input_name() +
         "') as [" + Names(model, keras) +
         "], the order by which Keras matches a file's weights to layers";
}

Status CheckKerasLayerOrder(const Model& model) {
  const std::string mismatch = KerasLayerOrderMismatch(model);
  if (mismatch.empty()) return OkStatus();
  return FailedPreconditionError(
      mismatch +
      ": a Keras file written in the config's order would load weights into the wrong layers "
      "without an error. List the layers in the config in Keras's order (by decreasing distance "
      "from the output, ties in the order a depth-first walk from the output reaches them) and "
      "train again: a checkpoint numbers the layers in config order, so one written in this "
      "order must not be restored into the reordered config. Export --format saved_model is not "
      "affected");
}

}  // namespace shardtrain::model
