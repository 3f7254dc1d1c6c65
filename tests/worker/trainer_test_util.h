// Test helpers shared by the trainer tests: small separable datasets (one
// shard, or two for the coordinator's planner), an epoch planner that feeds
// one rank whole batches and one that cuts a rank's part as the coordinator
// does (for multi-rank runs).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "common/philox.h"
#include "coordinator/shard_planner.h"
#include "worker/data/dataset.h"
#include "worker/epoch_plan.h"
#include "worker/in_memory_batches.h"
#include "worker/job_config.h"

namespace shardtrain::testing {

// The model inputs of uint8 `pixels`, as the default feature spec decodes
// them (pixel / 255).
inline std::vector<float> PixelFeatures(const std::vector<uint8_t>& pixels) {
  std::vector<float> features(pixels.size());
  for (size_t i = 0; i < pixels.size(); ++i) features[i] = pixels[i] * (1.0f / 255.0f);
  return features;
}

// `n` examples of 12 pixels in three classes: class c lights up pixels
// [c*4, c*4+4), with noise elsewhere (inputs pixel / 255). Deterministic in `seed`.
inline data::Dataset SeparableDataset(int64_t n, uint64_t seed) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = 12;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * 12));
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(PhiloxBits(seed, 0, 1, i) % 3);
    d.labels[i] = label;
    for (int j = 0; j < 12; ++j) {
      const uint8_t noise = PhiloxBits(seed, 0, 2, i * 12 + j) % 60;
      pixels[i * 12 + j] = (j / 4 == label) ? 200 + noise / 2 : noise;
    }
  }
  d.features = PixelFeatures(pixels);
  return d;
}

// `n` examples of `features` inputs in `classes` classes: class c raises
// every feature j with j % classes == c, over Philox noise (inputs pixel /
// 255); two shards of n / 2 and n - n / 2. Deterministic in `seed`.
inline data::Dataset TwoShardDataset(int64_t n, uint64_t seed, int64_t features, int classes) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = features;
  d.features.resize(static_cast<size_t>(n * features));
  d.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    d.labels[i] = static_cast<int32_t>(PhiloxBits(seed, 0, 1, i) % classes);
    for (int64_t j = 0; j < features; ++j) {
      const auto pixel = static_cast<uint8_t>((PhiloxBits(seed, 0, 2, i * features + j) & 0x7F) +
                                              (j % classes == d.labels[i] ? 128 : 0));
      d.features[i * features + j] = pixel * (1.0f / 255.0f);
    }
  }
  d.shard_sizes = {n / 2, n - n / 2};
  return d;
}

// `text` (a JobConfig in text format, named `name` in errors) with
// training.run_dir = `run_dir`, validated; an empty config after a test failure.
inline config::JobConfig ValidatedJob(const std::string& text, const std::string& name,
                                      const std::string& run_dir) {
  StatusOr<config::JobConfig> job = ParseJobConfig(text, name);
  EXPECT_TRUE(job.ok()) << job.status();
  if (!job.ok()) return config::JobConfig();
  job->mutable_training()->set_run_dir(run_dir);
  EXPECT_TRUE(ValidateJobConfig(&*job).ok());
  return *job;
}

// A validated job for SeparableDataset: input 12, 3 classes, Adam, sparse
// cross-entropy from logits, batch 8, seed 5, `epochs` epochs, and the model
// layers `layers` (text format: `layers { ... } layers { ... }`).
inline config::JobConfig SmallJob(const std::string& layers, int epochs) {
  const std::string text = "model { input_shape: [12] " + layers + " }\n" +
                           "training { batch_size: 8 epochs: " + std::to_string(epochs) +
                           " seed: 5 }\n" + R"pb(
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    metrics: "accuracy"
    data { dir: "unused" num_classes: 3 }
  )pb";
  StatusOr<config::JobConfig> config = ParseJobConfig(text, "small job");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config::JobConfig();
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
  return *config;
}

// One rank, every example of `train` in batches of `batch`: in example order,
// or with `shuffle` in a per-epoch order of its own (fixed seed 99).
class OneRankPlanner : public InMemoryPlanner {
 public:
  OneRankPlanner(const data::Dataset* train, int64_t batch, bool shuffle)
      : InMemoryPlanner(train, batch), n_(train->num_examples), batch_(batch), shuffle_(shuffle) {}

 protected:
  StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t start_position) override {
    EpochPlan plan;
    plan.epoch = epoch;
    plan.first_step = start_position / batch_;
    plan.example_ids.resize(static_cast<size_t>(n_));
    std::iota(plan.example_ids.begin(), plan.example_ids.end(), int64_t{0});
    for (int64_t i = n_ - 1; shuffle_ && i > 0; --i) {
      int64_t j =
          PhiloxBits(99, static_cast<uint64_t>(epoch), 0, static_cast<uint64_t>(i)) % (i + 1);
      std::swap(plan.example_ids[i], plan.example_ids[j]);
    }
    plan.example_ids.erase(plan.example_ids.begin(), plan.example_ids.begin() + start_position);
    for (int64_t p = start_position; p < n_; p += batch_) {
      plan.step_counts.push_back(static_cast<int32_t>(std::min(batch_, n_ - p)));
      plan.step_offsets.push_back(0);
    }
    return plan;
  }

 private:
  int64_t n_, batch_;
  bool shuffle_;
};

// Rank `rank` of `world`: its part of each epoch (from any position) in
// global batches of `batch`, shuffled with `seed`, as the coordinator's
// planner cuts it.
class RankPlanner : public InMemoryPlanner {
 public:
  RankPlanner(const data::Dataset* train, uint64_t seed, int64_t batch, int rank, int world)
      : InMemoryPlanner(train, batch),
        shards_(train->shard_sizes),
        seed_(seed),
        batch_(batch),
        rank_(rank),
        world_(world) {}

 protected:
  StatusOr<EpochPlan> PlanExamples(int64_t epoch, int64_t start) override {
    coordinator::RankAssignment a =
        coordinator::AssignEpoch(seed_, epoch, shards_, true, batch_, start, rank_, world_);
    return EpochPlan{a.epoch, a.first_step, a.example_ids, a.step_counts, a.step_offsets};
  }

 private:
  std::vector<int64_t> shards_;
  uint64_t seed_;
  int64_t batch_;
  int rank_, world_;
};

}  // namespace shardtrain::testing
