// Shared by `evaluate` and `export`: build a job's model (one process, CPU)
// from a config, and fill its weights from a checkpoint or a Keras file.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

// A checkpoint prefix, or a directory whose latest checkpoint is meant.
StatusOr<std::string> ResolveCheckpoint(const std::string& prefix_or_dir);

// Restores weights and optimizer state from the checkpoint at `prefix_or_dir`
// (the config hash is not checked: exports may use another data selection).
Status RestoreFromCheckpoint(const std::string& prefix_or_dir, ModelJob& job);

// Writes `values` (rows x cols float32) as a NumPy .npy file.
Status WriteNpy(const std::string& path, const std::vector<float>& values, int64_t rows,
                int64_t cols);

}  // namespace shardtrain::cli
