#include "cli/model_setup.h"

#include <cstdio>
#include <fstream>

#include "storage/checkpoint/state_file.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/checkpoint/checkpoint_contents.h"

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

Status WriteNpy(const std::string& path, const std::vector<float>& values, int64_t rows,
                int64_t cols) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(rows) + ", " + std::to_string(cols) + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return PermissionDeniedError("cannot write " + path);
  const uint16_t length = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(length & 0xff));
  out.put(static_cast<char>(length >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) return DataLossError("writing " + path + " failed (disk full?)");
  return OkStatus();
}

}  // namespace shardtrain::cli
