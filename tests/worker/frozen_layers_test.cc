// Frozen layers (LayerConfig.trainable: false, Keras's trainable=False): a
// frozen layer's bytes do not change in training while the trainable layers
// before and after it learn (the gradient passes through it); a frozen layer
// with nothing trainable before it is skipped in the backward pass; frozen
// layers have no optimizer slots and no slot keys in a checkpoint; a resume
// with them is exact; every layer frozen is InvalidArgument; with every
// layer trainable the optimizer covers the whole buffer, as before.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "kernels/backend.h"
#include "common/philox.h"
#include "storage/checkpoint/keras_object_graph.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "storage/tensor_bundle/bundle_writer.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

using testing::OneRankPlanner;
using testing::SeparableDataset;

// Layers dense, dropout, dense_1, dense_2; `frozen` lists the layer indices
// configured with trainable: false.
config::JobConfig Job(const std::vector<int>& frozen) {
  config::JobConfig config = testing::SmallJob(
      "layers { dense { units: 16 activation: RELU } } layers { dropout { rate: 0.2 } } "
      "layers { dense { units: 8 activation: RELU } } layers { dense { units: 3 } }",
      /*epochs=*/2);
  for (int layer : frozen) config.mutable_model()->mutable_layers(layer)->set_trainable(false);
  EXPECT_TRUE(ValidateJobConfig(&config).ok());
  return config;
}

// Records each epoch's end; asks `trainer` to stop after epoch `stop_after` (0: never).
class Recorder : public callbacks::Callback {
 public:
  Recorder(Trainer* trainer, int64_t stop_after) : trainer_(trainer), stop_after_(stop_after) {}
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    losses.push_back(*e.Log("loss"));
    losses.push_back(*e.Log("val_loss"));
    if (e.epoch == stop_after_) trainer_->RequestStop();
    return OkStatus();
  }
  std::vector<double> losses;  // loss, val_loss per epoch

 private:
  Trainer* trainer_;
  int64_t stop_after_;
};

const data::Dataset& Train() {
  static const data::Dataset train = SeparableDataset(96, 1);
  return train;
}
const data::Dataset& Val() {
  static const data::Dataset val = SeparableDataset(40, 2);
  return val;
}

std::unique_ptr<Trainer> NewTrainer(const config::JobConfig& job, kernels::KernelBackend* backend) {
  auto trainer = Trainer::Create(job, backend);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? std::move(*trainer) : nullptr;
}

// Fits `trainer`; returns the recorded losses.
std::vector<double> Fit(Trainer& trainer, int64_t stop_after = 0) {
  Recorder recorder(&trainer, stop_after);
  OneRankPlanner planner(&Train(), 8, /*shuffle=*/false);
  EXPECT_TRUE(trainer.Fit(&planner, &Val(), {&recorder}).ok());
  return recorder.losses;
}

// The bytes of variable `name`.
std::string Bytes(const model::ParameterStore& params, const std::string& name) {
  for (const model::VariableInfo& info : params.variables()) {
    if (info.name != name) continue;
    const char* begin = reinterpret_cast<const char*>(params.params() + info.offset);
    return std::string(begin, static_cast<size_t>(info.shape.num_elements()) * sizeof(float));
  }
  ADD_FAILURE() << "no variable " << name;
  return "";
}

TEST(FrozenLayersTest, FrozenLayerBytesAreUnchangedWhileTheLayersAroundItLearn) {
  auto backend = kernels::CreateCpuBackend();
  for (int frozen : {0, 2}) {  // the first dense layer; the middle one (dx passes through it)
    auto trainer = NewTrainer(Job({frozen}), backend.get());
    ASSERT_NE(trainer, nullptr);
    const model::ParameterStore& params = trainer->model().parameters();
    std::map<std::string, std::string> before;
    for (const model::VariableInfo& info : params.variables()) {
      before[info.name] = Bytes(params, info.name);
    }
    Fit(*trainer);
    const std::string frozen_layer = frozen == 0 ? "dense" : "dense_1";
    for (const model::VariableInfo& info : params.variables()) {
      const bool is_frozen = info.name.rfind(frozen_layer + "/", 0) == 0;
      EXPECT_EQ(info.trainable, !is_frozen) << info.name;
      if (is_frozen) {
        EXPECT_EQ(Bytes(params, info.name), before[info.name]) << info.name << " moved";
      } else {
        EXPECT_NE(Bytes(params, info.name), before[info.name]) << info.name << " did not learn";
      }
    }
  }
}

TEST(FrozenLayersTest, BackwardSkipsAFrozenLayerWithNothingTrainableBeforeIt) {
  auto model = model::Model::Create(Job({0}).model(), 4, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  auto backend = kernels::CreateCpuBackend();
  (*model)->Initialize(*backend, 1);
  model::ParameterStore& params = (*model)->parameters();
  std::fill(params.grads(), params.grads() + params.size(), 7.0f);  // a sentinel
  const std::vector<float> x(4 * 12, 0.5f);
  (*model)->Forward(*backend, x.data(), 4, model::ForwardMode{true, 1, 0, 0}, false);
  std::vector<float> grad_output(4 * 3, 0.25f);
  (*model)->Backward(*backend, x.data(), grad_output.data(), 4, false);
  const model::VariableInfo& frozen = params.variable(0);  // dense/kernel
  ASSERT_EQ(frozen.name, "dense/kernel");
  EXPECT_TRUE(std::all_of(params.grads() + frozen.offset,
                          params.grads() + frozen.offset + frozen.shape.num_elements(),
                          [](float g) { return g == 7.0f; }));
  const model::VariableInfo& head = params.variable(params.num_variables() - 2);  // dense_2/kernel
  EXPECT_FALSE(std::all_of(params.grads() + head.offset,
                           params.grads() + head.offset + head.shape.num_elements(),
                           [](float g) { return g == 7.0f; }));
}

TEST(FrozenLayersTest, OptimizerSlotsCoverTheTrainableVariablesOnly) {
  auto backend = kernels::CreateCpuBackend();
  auto all = NewTrainer(Job({}), backend.get());
  ASSERT_NE(all, nullptr);
  const model::ParameterStore& every = all->model().parameters();
  ASSERT_EQ(every.TrainableSpans().size(), 1u);  // one update of the whole buffer, as before
  EXPECT_EQ(every.TrainableSpans()[0].offset, 0);
  EXPECT_EQ(every.TrainableSpans()[0].size, every.size());
  EXPECT_EQ(all->optimizer().slot(0).size(), static_cast<size_t>(every.size()));

  auto frozen = NewTrainer(Job({2}), backend.get());
  ASSERT_NE(frozen, nullptr);
  const model::ParameterStore& params = frozen->model().parameters();
  const int64_t frozen_floats = 16 * 8 + 8;
  EXPECT_EQ(params.trainable_size(), params.size() - frozen_floats);
  ASSERT_EQ(params.TrainableSpans().size(), 2u);  // dense; dense_2
  EXPECT_EQ(params.TrainableSpans()[1].offset, 12 * 16 + 16 + frozen_floats);
  for (size_t s = 0; s < frozen->optimizer().slot_names().size(); ++s) {
    EXPECT_EQ(frozen->optimizer().slot(s).size(), static_cast<size_t>(params.trainable_size()));
  }
  EXPECT_EQ(params.variable(2).trainable_offset, -1);            // dense_1/kernel
  EXPECT_EQ(params.variable(4).trainable_offset, 12 * 16 + 16);  // dense_2/kernel
}

TEST(FrozenLayersTest, EveryLayerFrozenIsInvalidArgument) {
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(Job({0, 2, 3}), backend.get());
  ASSERT_EQ(trainer.status().code(), StatusCode::kInvalidArgument) << trainer.status();
  EXPECT_NE(trainer.status().message().find("every layer with weights is frozen"),
            std::string::npos)
      << trainer.status();
}

Status WriteBundle(storage::FileSystem* fs, const std::string& prefix,
                   const std::vector<checkpoint::SaveTensor>& tensors) {
  ASSIGN_OR_RETURN(auto writer, storage::BundleWriter::Open(fs, prefix));
  for (const checkpoint::SaveTensor& t : tensors) {
    if (t.dtype == DType::kString) {
      RETURN_IF_ERROR(writer->AddStrings(t.key, t.shape, t.strings));
    } else {
      RETURN_IF_ERROR(writer->Add(t.key, t.dtype, t.shape, t.data, t.bytes));
    }
  }
  return writer->Finish();
}

// Every variable node's key is saved, every slot reference names variable nodes.
void ExpectConsistentObjectGraph(const std::vector<checkpoint::SaveTensor>& tensors) {
  std::set<std::string> keys;
  std::string graph_bytes;
  for (const checkpoint::SaveTensor& t : tensors) {
    keys.insert(t.key);
    if (t.key == storage::kObjectGraphKey) graph_bytes = t.strings.at(0);
  }
  tf::TrackableObjectGraph graph;
  ASSERT_TRUE(graph.ParseFromString(graph_bytes));
  size_t variables = 0;
  for (const auto& node : graph.nodes()) {
    for (const auto& attribute : node.attributes()) {
      EXPECT_EQ(keys.count(attribute.checkpoint_key()), 1u) << attribute.checkpoint_key();
      ++variables;
    }
    for (const auto& child : node.children()) EXPECT_LT(child.node_id(), graph.nodes_size());
    for (const auto& slot : node.slot_variables()) {
      ASSERT_LT(slot.slot_variable_node_id(), graph.nodes_size());
      const auto& slot_node = graph.nodes(slot.slot_variable_node_id());
      ASSERT_EQ(slot_node.attributes_size(), 1);
      EXPECT_NE(slot_node.attributes(0).checkpoint_key().find("/.OPTIMIZER_SLOT/optimizer/" +
                                                              slot.slot_name() + "/"),
                std::string::npos);
      EXPECT_EQ(graph.nodes(slot.original_variable_node_id()).attributes_size(), 1);
    }
  }
  size_t saved_variables = 0;
  for (const std::string& key : keys) {
    if (key.find("/.ATTRIBUTES/VARIABLE_VALUE") != std::string::npos) ++saved_variables;
  }
  EXPECT_EQ(variables, saved_variables);
}

TEST(FrozenLayersTest, CheckpointHasNoFrozenSlotsAndResumesExactly) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = Job({0});
  auto uninterrupted = NewTrainer(job, backend.get());
  ASSERT_NE(uninterrupted, nullptr);
  const std::vector<double> reference = Fit(*uninterrupted);
  ASSERT_EQ(reference.size(), 4u);

  auto first = NewTrainer(job, backend.get());
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(Fit(*first, /*stop_after=*/1).size(), 2u);
  checkpoint::SavedState state;
  state.progress = first->progress();
  state.config_hash = checkpoint::TrajectoryConfigHash(job);
  auto tensors = checkpoint::GatherCheckpointTensors(*first, job, state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  std::set<std::string> keys;
  for (const checkpoint::SaveTensor& t : *tensors) keys.insert(t.key);
  // tf.keras's layout: the frozen layer's weights, no slots for them; slots for the others.
  EXPECT_EQ(keys.count("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"), 1u);
  for (const std::string& key : keys) {
    EXPECT_FALSE(key.rfind("layer_with_weights-0/", 0) == 0 &&
                 key.find(".OPTIMIZER_SLOT") != std::string::npos)
        << key;
  }
  for (const char* slot : {"m", "v"}) {
    for (int layer : {1, 2}) {
      for (const char* weight : {"kernel", "bias"}) {
        EXPECT_EQ(keys.count("layer_with_weights-" + std::to_string(layer) + "/" + weight +
                             "/.OPTIMIZER_SLOT/optimizer/" + slot + "/.ATTRIBUTES/VARIABLE_VALUE"),
                  1u);
      }
    }
  }
  ExpectConsistentObjectGraph(*tensors);
  // The stored config carries the flag.
  const auto config_text = std::find_if(tensors->begin(), tensors->end(), [](const auto& t) {
    return t.key == std::string(checkpoint::kStatePrefix) + "config";
  });
  ASSERT_NE(config_text, tensors->end());
  EXPECT_NE(config_text->strings.at(0).find("trainable: false"), std::string::npos);

  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/ckpt").ok());
  ASSERT_TRUE(WriteBundle(&fs, "/ckpt/ckpt-12", *tensors).ok());
  auto resumed = NewTrainer(job, backend.get());
  ASSERT_NE(resumed, nullptr);
  auto reader = storage::BundleReader::Open(&fs, "/ckpt/ckpt-12");
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto restored = checkpoint::RestoreCheckpoint(**reader, "/ckpt/ckpt-12", *resumed);
  ASSERT_TRUE(restored.ok()) << restored.status();
  resumed->ResumeFrom(restored->progress);
  const std::vector<double> after = Fit(*resumed);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0], reference[2]);  // bitwise: epoch 2's loss and val_loss
  EXPECT_EQ(after[1], reference[3]);
  const model::ParameterStore& a = uninterrupted->model().parameters();
  const model::ParameterStore& b = resumed->model().parameters();
  EXPECT_EQ(std::memcmp(a.params(), b.params(), a.size() * sizeof(float)), 0);
  EXPECT_EQ(uninterrupted->optimizer().slot(0), resumed->optimizer().slot(0));
}

}  // namespace
}  // namespace shardtrain
