#include "cli/model_setup.h"

#include "storage/checkpoint/state_file.h"
#include "storage/io/file_system.h"
#include "storage/keras/keras_files.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/model/keras_weights.h"

namespace shardtrain::cli {

StatusOr<ModelJob> BuildModelJob(const std::string& config_path, const JobOverrides& overrides) {
  ModelJob job;
  ASSIGN_OR_RETURN(job.config, LoadJobConfig(config_path));
  ApplyOverrides(overrides, &job.config);
  RETURN_IF_ERROR(ValidateJobConfig(&job.config).WithContext(config_path));
  job.backend = kernels::CreateCpuBackend();
  ASSIGN_OR_RETURN(job.trainer, Trainer::Create(job.config, job.backend.get()));
  return job;
}

StatusOr<std::string> ResolveCheckpoint(const std::string& prefix_or_dir) {
  storage::FileSystem* fs = storage::PosixFileSystem();
  if (fs->FileExists(prefix_or_dir + ".index")) return prefix_or_dir;
  if (fs->IsDirectory(prefix_or_dir)) {
    auto latest = storage::LatestCheckpoint(fs, prefix_or_dir);
    if (latest.ok()) return latest;
    return latest.status().WithContext("--checkpoint " + prefix_or_dir);
  }
  return NotFoundError("--checkpoint " + prefix_or_dir +
                       ": neither a checkpoint prefix (no .index file) nor a directory");
}

Status RestoreFromCheckpoint(const std::string& prefix_or_dir, ModelJob& job) {
  ASSIGN_OR_RETURN(std::string prefix, ResolveCheckpoint(prefix_or_dir));
  ASSIGN_OR_RETURN(auto reader, storage::BundleReader::Open(storage::PosixFileSystem(), prefix));
  ASSIGN_OR_RETURN(checkpoint::SavedState state,
                   checkpoint::RestoreCheckpoint(*reader, prefix, *job.trainer));
  (void)state;
  return OkStatus();
}

Status LoadKerasWeights(const std::string& path, ModelJob& job) {
  ASSIGN_OR_RETURN(storage::keras::KerasModelFile file, storage::keras::ReadKerasFile(path));
  ASSIGN_OR_RETURN(model::WeightLoadReport report,
                   model::LoadWeightsByName(file, &job.trainer->model()));
  if (!report.not_in_file.empty()) {
    return FailedPreconditionError(path + " lacks weights the model needs: " + report.Describe());
  }
  return OkStatus();
}

Status LoadModelWeights(const std::optional<std::string>& checkpoint,
                        const std::optional<std::string>& keras_file, ModelJob& job) {
  if (keras_file) return LoadKerasWeights(*keras_file, job);
  return RestoreFromCheckpoint(checkpoint ? *checkpoint : checkpoint::CheckpointDir(job.config),
                               job);
}

void ModelSource::AddFlags(FlagSet& flags) {
  flags.String("checkpoint", &checkpoint,
               "checkpoint prefix or directory (default: RUN_DIR/checkpoints, its latest)");
  flags.String("keras", &keras_file,
               "take the weights from a Keras file (.keras, .h5, .weights.h5) instead");
  flags.String("saved-model", &saved_model,
               "run this exported SavedModel version directory (our serving runtime) instead");
}

Status ModelSource::Check() const {
  if ((checkpoint ? 1 : 0) + (keras_file ? 1 : 0) + (saved_model ? 1 : 0) > 1) {
    return InvalidArgumentError("give at most one of --checkpoint, --keras, --saved-model");
  }
  return OkStatus();
}

}  // namespace shardtrain::cli
