// Resuming a job from its checkpoint directory (RUN_DIR/checkpoints):
// which checkpoints a run may start from, and restoring the newest of them
// that is intact into the trainer on every rank.
//
//   * FindResumeCandidates (rank 0, before any collective): sweeps what an
//     interrupted save left behind, then lists the candidates: the one
//     --restore names, or the state file's checkpoints newest first (with
//     falling back allowed), after a save_best_only job's preemption save
//     (checkpoints/preemption, PreemptionCheckpointDir) when there is one,
//     or none for a fresh start (--no-resume, or no state file). Candidates
//     are not read here: the restore verifies them.
//   * ResumeTraining (collective): restores the newest candidate that
//     restores on every rank (RestoreOnAllRanks verifies the whole
//     checkpoint), skipping a damaged one (DataLoss, NotFound on every rank)
//     for the next when falling back is allowed, checks that it was written
//     with the same training trajectory (TrajectoryConfigHash; a refusal
//     names each changed field with its old and new value, from the config
//     text the checkpoint stores) and makes the trainer continue from it,
//     with the callbacks' state it holds (Trainer::callback_state()).
//     Every rank succeeds or every rank fails.
//   * TrainingComplete: whether a restored checkpoint already holds every
//     configured epoch (a re-run of a finished job has nothing to train).
// Not thread-safe (the training thread, before training).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"
#include "storage/io/file_system.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/comm/communicator.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {

// Where a run starts from (the train command's flags).
struct ResumeOptions {
  std::optional<std::string> restore;  // --restore PREFIX: this checkpoint, no fallback
  bool no_resume = false;              // --no-resume: a fresh start
  bool allow_config_change = false;    // --allow-config-change
};

// The checkpoints a run may resume from, newest first (none: a fresh start);
// with `fall_back`, a damaged one is skipped for the next.
struct ResumeCandidates {
  std::vector<std::string> prefixes;
  bool fall_back = false;
};

// A checkpoint restored into the trainer.
struct Resumed {
  SavedState state;
  std::string prefix;
};

// Rank 0: sweeps unfinished saves from `dir` (each deletion is logged as a
// warning) and lists the candidates. NotFound when --restore names a prefix
// without an .index; the state file's errors otherwise.
StatusOr<ResumeCandidates> FindResumeCandidates(storage::FileSystem* fs, const std::string& dir,
                                                const ResumeOptions& options);

// Collective: restores the newest of rank 0's `candidates` (other ranks'
// are ignored) that restores on every rank. Rank 0 writes a warning to
// `warnings` for each damaged checkpoint skipped and for the one it falls
// back to. nullopt for no candidates. Errors, on every rank: a damaged
// checkpoint without fallback, with "--restore PREFIX" as context; DataLoss
// listing every candidate when all are damaged (never a fresh start); any
// other failure of a restore (the same on every rank, as RestoreOnAllRanks
// returns it).
StatusOr<std::optional<Resumed>> RestoreNewestIntact(storage::FileSystem* fs,
                                                     const ResumeCandidates& candidates,
                                                     const std::string& dir, Trainer& trainer,
                                                     comm::Communicator& comm,
                                                     std::ostream& warnings);

// The trajectory-deciding fields (those TrajectoryConfigHash covers) that
// differ between the config a checkpoint was written with (`saved`) and
// `current`, in field order, each as "path: old -> new", e.g.
// "training.batch_size: 32 -> 64" or "model.layers[2]: (not set) -> { ... }".
std::vector<std::string> TrajectoryConfigChanges(const config::JobConfig& saved,
                                                 const config::JobConfig& current);

// Collective: RestoreNewestIntact, then FailedPrecondition when the restored
// checkpoint was written with a different TrajectoryConfigHash than `config`'s,
// naming the changed fields (TrajectoryConfigChanges; a generic list when the
// checkpoint's config text cannot be read). With `allow_config_change` it
// resumes anyway and rank 0 writes the changes to `warnings`. Then
// Trainer::ResumeFrom its progress, and its callback state replaces the
// trainer's.
StatusOr<std::optional<Resumed>> ResumeTraining(storage::FileSystem* fs,
                                                const ResumeCandidates& candidates,
                                                const config::JobConfig& config,
                                                bool allow_config_change, Trainer& trainer,
                                                comm::Communicator& comm, std::ostream& warnings);

// Whether `progress` (a restored checkpoint's) has trained all of `config`'s
// epochs: then a run from it has nothing to train; with --epochs raised it
// has more.
bool TrainingComplete(const TrainingProgress& progress, const config::JobConfig& config);

}  // namespace shardtrain::checkpoint
