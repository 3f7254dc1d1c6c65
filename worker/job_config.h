// Loading, overriding and validating a job config (proto/config.proto).
//
// LoadJobConfig parses text-format protobuf and reports errors as
// "FILE:LINE:COL: message"; unknown fields are errors. ValidateJobConfig fills
// defaults (run_dir, device, shuffle) and rejects values that cannot train,
// naming the field, including a loss that does not fit the data's labels,
// class ids or VECTOR targets (loss::CheckLossConfig, CheckLossAcceptsTargets).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain {

StatusOr<config::JobConfig> LoadJobConfig(const std::string& path);

// Parses text-format `text` (`source_name` is used in error messages).
StatusOr<config::JobConfig> ParseJobConfig(const std::string& text, const std::string& source_name);

// Command-line values that replace the file's (flag names in comments).
struct JobOverrides {
  std::optional<std::string> data_dir;        // --data
  std::optional<std::string> run_dir;         // --run-dir
  std::optional<int64_t> epochs;              // --epochs
  std::optional<int64_t> batch_size;          // --batch-size
  std::optional<int64_t> train_examples;      // --train-examples
  std::optional<int64_t> test_examples;       // --test-examples
  std::optional<uint64_t> seed;               // --seed
  std::optional<float> learning_rate;         // --learning-rate
  std::optional<std::string> device;          // --device
  std::optional<std::string> model_json;      // --model-json
  std::optional<std::string> save_freq;       // --save-freq
  std::optional<int64_t> max_to_keep;         // --max-to-keep
};

void ApplyOverrides(const JobOverrides& overrides, config::JobConfig* config);

// checkpoint.save_freq as a step interval: N for a number, 0 for "epoch"/"none".
StatusOr<int64_t> CheckpointEverySteps(const config::CheckpointConfig& checkpoint);

// Fills defaults and checks every field the trainer relies on. When
// `model_json` is set, reads that Keras JSON file into `model` (which must
// then be empty).
Status ValidateJobConfig(config::JobConfig* config);

}  // namespace shardtrain
