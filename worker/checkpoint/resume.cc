#include "worker/checkpoint/resume.h"

#include <cstdint>
#include <utility>

#include "common/logging.h"
#include "storage/checkpoint/commit.h"
#include "storage/checkpoint/state_file.h"
#include "storage/checkpoint/verify.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/restore_on_all_ranks.h"
#include "worker/comm/host_collectives.h"

namespace shardtrain::checkpoint {

StatusOr<ResumeCandidates> FindResumeCandidates(storage::FileSystem* fs, const std::string& dir,
                                                const ResumeOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> swept, storage::SweepUnfinishedCheckpoints(fs, dir));
  for (const std::string& name : swept) {
    LOG(WARNING) << "removed " << storage::JoinPath(dir, name) << " (left by an unfinished save)";
  }
  ResumeCandidates candidates;
  if (options.restore) {
    const std::string& prefix = *options.restore;
    if (!fs->FileExists(prefix + ".index")) {
      return NotFoundError("--restore " + prefix + ": " + prefix +
                           ".index does not exist (pass a checkpoint prefix such as " +
                           storage::JoinPath(dir, "ckpt-100") + ")");
    }
    candidates.prefixes = {prefix};
    return candidates;
  }
  if (options.no_resume || !fs->FileExists(storage::JoinPath(dir, storage::kCheckpointStateFile))) {
    return candidates;
  }
  ASSIGN_OR_RETURN(candidates.prefixes, storage::CheckpointCandidates(fs, dir));
  candidates.fall_back = true;
  return candidates;
}

StatusOr<std::optional<Resumed>> RestoreNewestIntact(storage::FileSystem* fs,
                                                     const ResumeCandidates& candidates,
                                                     const std::string& dir, Trainer& trainer,
                                                     comm::Communicator& comm,
                                                     std::ostream& warnings) {
  const bool is_root = comm.rank() == 0;
  // Rank 0's candidate count and whether it may fall back.
  int64_t header[2] = {static_cast<int64_t>(candidates.prefixes.size()),
                       candidates.fall_back ? 1 : 0};
  RETURN_IF_ERROR(
      comm.Broadcast(header, sizeof(header), 0).WithContext("sharing resume candidates"));
  const bool fall_back = header[1] != 0;
  std::vector<std::string> skipped;
  for (int64_t i = 0; i < header[0]; ++i) {
    ASSIGN_OR_RETURN(std::string prefix,
                     comm::BroadcastHostString(
                         comm, is_root ? candidates.prefixes[static_cast<size_t>(i)] : "", 0));
    StatusOr<SavedState> state = RestoreOnAllRanks(fs, prefix, trainer, comm);
    if (state.ok()) {  // RestoreOnAllRanks succeeds on every rank or on none
      if (is_root && !skipped.empty())
        warnings << "warning: falling back to " << prefix << std::endl;
      return std::make_optional(Resumed{*std::move(state), prefix});
    }
    if (!fall_back) return state.status().WithContext("--restore " + prefix);
    // Fall back only when every rank found this checkpoint damaged.
    const bool damaged = IsDamagedCheckpoint(state.status());
    const Status agreed = comm::AgreeOnStatus(comm, damaged ? OkStatus() : state.status(),
                                              "restoring checkpoint " + prefix);
    if (!agreed.ok()) return damaged ? agreed : state.status();
    if (is_root) {
      warnings << "warning: skipping damaged checkpoint " << prefix << ": "
               << state.status().ToString() << std::endl;
    }
    skipped.push_back(prefix + ": " + state.status().ToString());
  }
  if (skipped.empty()) return std::optional<Resumed>();
  std::string all;
  for (const std::string& s : skipped) all += "\n  " + s;
  return DataLossError("no intact checkpoint in " + dir + ":" + all +
                       "\n(--no-resume starts afresh; nothing was deleted)");
}

StatusOr<std::optional<Resumed>> ResumeTraining(storage::FileSystem* fs,
                                                const ResumeCandidates& candidates,
                                                const config::JobConfig& config,
                                                bool allow_config_change, Trainer& trainer,
                                                comm::Communicator& comm, std::ostream& warnings) {
  ASSIGN_OR_RETURN(
      std::optional<Resumed> resumed,
      RestoreNewestIntact(fs, candidates, CheckpointDir(config), trainer, comm, warnings));
  if (!resumed) return resumed;
  if (resumed->state.config_hash != TrajectoryConfigHash(config) && !allow_config_change) {
    return FailedPreconditionError(
        "checkpoint " + resumed->prefix +
        " was written with a different job config (model, "
        "optimizer, loss, data selection, batch size, seed or shuffle changed; its config is "
        "stored under _SHARDTRAIN_STATE/config). Pass --allow-config-change to resume anyway, "
        "--no-resume to start afresh, or use another --run-dir");
  }
  trainer.ResumeFrom(resumed->state.progress);
  return resumed;
}

bool TrainingComplete(const TrainingProgress& progress, const config::JobConfig& config) {
  return progress.epoch >= config.training().epochs();
}

}  // namespace shardtrain::checkpoint
