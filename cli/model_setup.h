// Shared by `evaluate`, `predict` and `export`: build a job's model (one
// process, CPU) from a config, and fill its weights from a checkpoint or a
// Keras file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::cli {

struct ModelJob {
  config::JobConfig config;
  std::unique_ptr<kernels::KernelBackend> backend;
  std::unique_ptr<Trainer> trainer;
};

// Loads, overrides and validates CONFIG and creates a trainer with fresh weights.
StatusOr<ModelJob> BuildModelJob(const std::string& config_path, const JobOverrides& overrides);

// Where `evaluate` and `predict` take the model from: at most one of
// --checkpoint, --keras and --saved-model (none: the run's latest checkpoint).
struct ModelSource {
  std::optional<std::string> checkpoint;   // prefix or directory
  std::optional<std::string> keras_file;   // .keras, .h5, .weights.h5
  std::optional<std::string> saved_model;  // an exported version directory

  // Registers the three flags on `flags`.
  void AddFlags(FlagSet& flags);
  // InvalidArgument when more than one is given.
  Status Check() const;
};

// A checkpoint prefix, or a directory whose latest checkpoint is meant.
StatusOr<std::string> ResolveCheckpoint(const std::string& prefix_or_dir);

// Restores weights and optimizer state from the checkpoint at `prefix_or_dir`
// (the config hash is not checked: exports may use another data selection).
Status RestoreFromCheckpoint(const std::string& prefix_or_dir, ModelJob& job);

// Fills the model's weights from the Keras file at `path` (.keras, .h5,
// .weights.h5), matched by layer name; FailedPrecondition when the file lacks
// a weight the model needs.
Status LoadKerasWeights(const std::string& path, ModelJob& job);

// The weights from `keras_file` when given, else from the checkpoint
// `checkpoint` (default: the latest in the run's checkpoint directory).
Status LoadModelWeights(const std::optional<std::string>& checkpoint,
                        const std::optional<std::string>& keras_file, ModelJob& job);

}  // namespace shardtrain::cli
