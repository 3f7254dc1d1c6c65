// Checkpointer: the worker's side of checkpointing, as a training callback.
// Every rank runs one; they make the same decisions at the same step because
// they see the same global metrics and step counts.
//
//   * When: every `save_freq` steps or after each epoch (checkpoint config),
//     a step save due at an epoch's last step being taken at that epoch's end
//     (after validation and EarlyStopping's restore of the best weights),
//     only on improvement with save_best_only (whose preemption saves go to
//     PreemptionCheckpointDir until a newer save or the end of training
//     supersedes them), and at the first step boundary
//     after SIGTERM on any rank (agreed by a small allreduce every
//     kPreemptionPollSteps steps; then training stops and the job exits 0).
//     When training ends normally the final step is committed too, unless it
//     already is (the last epoch's save with "epoch") or the policy saves no
//     regular checkpoints (save_freq "none") or keeps the best as the latest
//     (save_best_only), so export, evaluate and a re-run see the final weights.
//   * How (DESIGN.md §4, two-phase commit): tensors are assigned to ranks by
//     size (checkpoint_contents.h); rank r writes PREFIX.data-{r}-of-{N} under
//     a temporary name, fsyncs and renames it, and reports its entries to the
//     coordinator; once every rank has (comm::AgreeOnStatus, which is also the
//     barrier), rank 0 asks the coordinator to commit (the index, then the
//     `checkpoint` state file, then retention), and every rank learns the
//     outcome the same way. A failure on any rank, in either phase, fails the
//     save on every rank: a failing rank returns its own error, the others
//     one naming the failing rank and the checkpoint. A failed write (a full
//     disk, a read-only directory) deletes its temporary file, leaves the
//     previous checkpoint the latest and says what to do
//     (storage::ExplainCheckpointWriteError).
//   * Device memory: where the host cannot read the trainer's memory (CUDA,
//     the strict device) a save starts with one copy of the parameters and
//     of each optimizer slot into a pinned HostSnapshot the checkpointer
//     keeps for its later saves (checkpoint_contents.h), and writes from
//     there; on the CPU backend it writes from the trainer's buffers.
//   * Names: checkpoint.filepath with {epoch}, {step} and the logs of the
//     last epoch end (Keras ModelCheckpoint). The logs it names are kept in
//     the trainer's callback state as "checkpointer/last_logs/<name>" at each
//     epoch end, before that epoch's save, so checkpoints carry them and a
//     resumed run names its checkpoints as the uninterrupted run does. A
//     filepath that names no log keeps no state (the checkpoint bytes of
//     such jobs are unchanged).
// Checkpoints go to RUN_DIR/checkpoints. Not thread-safe (training thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "coordinator/rpc/coordinator_client.h"
#include "proto/config.pb.h"
#include "storage/io/file_system.h"
#include "worker/callbacks/callback.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/comm/communicator.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {

// RUN_DIR/checkpoints.
std::string CheckpointDir(const config::JobConfig& config);
// RUN_DIR/checkpoints/preemption: a save_best_only job's preemption save (its
// own state file, one checkpoint), apart from the best checkpoints so that
// the checkpoint directory's latest stays the best one (resume.h).
std::string PreemptionCheckpointDir(const config::JobConfig& config);
// Its name inside RUN_DIR/checkpoints.
inline constexpr char kPreemptionDirName[] = "preemption";

// Expands a filepath template: {epoch}, {step} and the names in `metrics`
// (the job's logs; NaN before its first epoch ends), with Python-style specs
// ({epoch:04d}, {val_loss:.2f}). InvalidArgument for another name, an unknown
// spec, or an unbalanced brace.
StatusOr<std::string> FormatCheckpointName(const std::string& pattern, int64_t epoch,
                                           int64_t step,
                                           const std::map<std::string, double>& metrics);

class Checkpointer : public callbacks::Callback {
 public:
  // Steps between preemption polls (one tiny allreduce each) with several ranks.
  static constexpr int64_t kPreemptionPollSteps = 4;

  // `config` passed ValidateJobConfig; `trainer`, `comm`, `client` and `fs`
  // outlive the checkpointer. `resumed` is the state restored at start (its
  // step is not saved again), or null for a fresh run; the logs the filepath
  // names are read from `trainer`'s callback_state() (restored by a resume).
  Checkpointer(const config::JobConfig& config, Trainer* trainer, comm::Communicator* comm,
               coordinator::CoordinatorClient* client, storage::FileSystem* fs,
               const SavedState* resumed);

  Status OnBatchEnd(const callbacks::BatchEnd& batch) override;
  Status OnEpochEnd(const callbacks::EpochEnd& epoch) override;
  Status OnTrainEnd() override;

  // Saves the trainer's current state now, named by checkpoint.filepath;
  // every rank must call it at the same step. Returns the committed prefix.
  StatusOr<std::string> Save();

  // True when training stopped for a preemption (after its checkpoint).
  bool preempted() const { return preempted_; }
  const std::string& last_saved() const { return last_saved_; }

 private:
  // Whether any rank received SIGTERM (a collective with several ranks).
  StatusOr<bool> AnyRankPreempted();
  Status StopForPreemption();
  // Whether save_freq (a step count) asks for a save after global step `step`.
  bool StepSaveDue(int64_t step) const;
  // What a checkpoint saved now records besides the variables (and the
  // optimizer state, unless `weights_only`).
  SavedState CurrentState(bool weights_only) const;
  // Writes the filepath_logs_ of last_metrics_ into the trainer's callback state.
  void RecordFilepathLogs();
  // Save phase 1 on this rank: writes its data file of `prefix`, durable
  // under its final name, and reports its entries to the coordinator.
  Status WriteAndReportPart(const std::string& prefix, const std::string& absolute_prefix,
                            bool weights_only);
  // Save phase 2 (rank 0): the coordinator commits `absolute_prefix`.
  Status Commit(const std::string& absolute_prefix, int64_t epoch, int32_t max_to_keep);
  // The 1-based epoch a checkpoint saved now is named and committed with: the
  // one in progress, or the last finished at an epoch's start.
  int64_t NameEpoch() const;
  // Save() as DIR/NAME, keeping `max_to_keep` checkpoints of DIR.
  StatusOr<std::string> SaveAs(const std::string& dir, const std::string& name, int32_t max_to_keep,
                               bool weights_only);
  // Deletes PreemptionCheckpointDir (rank 0), superseded by a newer save or
  // the end of training (collective).
  Status DropPreemptionSave();

  config::JobConfig config_;
  std::string dir_;
  int64_t every_steps_ = 0;  // 0: epoch saves
  Trainer* trainer_;
  comm::Communicator* comm_;
  coordinator::CoordinatorClient* client_;
  storage::FileSystem* fs_;
  std::string config_hash_;
  // The logs checkpoint.filepath names (none for e.g. "ckpt-{step}").
  std::vector<std::string> filepath_logs_;
  // The job's logs (metrics::LogNames) at the last finished epoch; NaN before.
  std::map<std::string, double> last_metrics_;
  double best_value_ = 0;
  bool has_best_ = false;
  int64_t last_saved_step_ = -1;
  std::string last_saved_;
  bool preempted_ = false;
  // Host copies of device-resident variables, reused by every save.
  std::shared_ptr<HostSnapshot> snapshot_ = std::make_shared<HostSnapshot>();
  // Test-only hook, not for users: rank 0 sends itself SIGTERM after this
  // global step ($SHARDTRAIN_TEST_SIGTERM_AT_STEP), a deterministic preemption
  // for tests/cli/checkpoint_resume_test.sh; -1 (unset) in real runs.
  int64_t sigterm_at_step_ = -1;
};

}  // namespace shardtrain::checkpoint
