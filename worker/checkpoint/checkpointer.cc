#include "worker/checkpoint/checkpointer.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>
#include <random>
#include <vector>

#include "common/logging.h"
#include "storage/checkpoint/commit.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_writer.h"
#include "worker/comm/host_collectives.h"
#include "worker/job_config.h"
#include "worker/metrics/metric_set.h"
#include "worker/preemption.h"

namespace shardtrain::checkpoint {
namespace {

// Formats one {name[:spec]} value; spec is empty, [0][width]d or [width].Nf.
StatusOr<std::string> FormatField(const std::string& name, const std::string& spec, double value,
                                  bool integral) {
  std::string format = "%";
  if (spec.empty()) {
    format += integral ? "lld" : "g";
  } else {
    const char type = spec.back();
    const std::string body = spec.substr(0, spec.size() - 1);
    bool body_ok = true;
    for (char c : body) body_ok = body_ok && (std::isdigit(static_cast<unsigned char>(c)) || c == '.');
    if (!body_ok || (type != 'd' && type != 'f' && type != 'e' && type != 'g')) {
      return InvalidArgumentError("checkpoint.filepath: unsupported format spec '" + spec +
                                  "' for {" + name + "} (use e.g. {epoch:04d} or {val_loss:.2f})");
    }
    if (type == 'd' && !integral) {
      return InvalidArgumentError("checkpoint.filepath: {" + name + ":" + spec +
                                  "} formats a metric as an integer; use e.g. :.4f");
    }
    format += body + (type == 'd' ? "lld" : std::string(1, type));
  }
  char buffer[128];
  if (integral) {
    std::snprintf(buffer, sizeof(buffer), format.c_str(), static_cast<long long>(value));
  } else {
    std::snprintf(buffer, sizeof(buffer), format.c_str(), value);
  }
  return std::string(buffer);
}

// The callback state key of epoch log `name` (callbacks/callback_state.h).
std::string LastLogKey(const std::string& name) { return "checkpointer/last_logs/" + name; }

// The log names `pattern` formats: its {fields} other than epoch and step
// (a pattern that passed ValidateJobConfig), each once.
std::vector<std::string> FilepathLogNames(const std::string& pattern) {
  std::vector<std::string> names;
  for (size_t open = pattern.find('{'); open != std::string::npos;
       open = pattern.find('{', open + 1)) {
    const size_t close = pattern.find('}', open);
    if (close == std::string::npos) break;
    std::string field = pattern.substr(open + 1, close - open - 1);
    field = field.substr(0, field.find(':'));
    if (field == "epoch" || field == "step") continue;
    if (std::find(names.begin(), names.end(), field) == names.end()) names.push_back(field);
  }
  return names;
}

std::string RandomSuffix() {
  std::random_device random;
  return std::to_string(random()) + std::to_string(random());
}

// Bytes each tensor adds to a data file (what AssignTensorsToRanks balances).
std::vector<size_t> TensorBytes(const std::vector<SaveTensor>& tensors) {
  std::vector<size_t> sizes;
  for (const SaveTensor& t : tensors) {
    size_t bytes = t.bytes;
    for (const std::string& s : t.strings) bytes += s.size();
    sizes.push_back(bytes);
  }
  return sizes;
}

// Writes the tensors `owner` gives to `rank` as a bundle data file at `path`
// and adds their index entries to `part`.
Status WriteDataFile(storage::FileSystem* fs, const std::string& path, int rank,
                     const std::vector<SaveTensor>& tensors, const std::vector<int>& owner,
                     coordinator::CheckpointShardWritten* part) {
  ASSIGN_OR_RETURN(auto writer, storage::BundleShardWriter::Open(fs, path, rank));
  bool wrote_any = false;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (owner[i] != rank) continue;
    const SaveTensor& t = tensors[i];
    if (t.dtype == DType::kString) {
      RETURN_IF_ERROR(writer->AddStrings(t.key, t.shape, t.strings));
    } else {
      RETURN_IF_ERROR(writer->Add(t.key, t.dtype, t.shape, t.data, t.bytes));
    }
    wrote_any = true;
  }
  if (!wrote_any) {  // more ranks than tensors: every data file needs one (spec §1.7)
    const int32_t marker = rank;
    RETURN_IF_ERROR(writer->Add(std::string(kStatePrefix) + "shard-" + std::to_string(rank),
                                DType::kInt32, {}, &marker, sizeof(marker)));
  }
  RETURN_IF_ERROR(writer->Finish());
  for (const auto& [key, entry] : writer->entries()) {
    auto* e = part->add_entries();
    e->set_key(key);
    *e->mutable_entry() = entry;
  }
  return OkStatus();
}

// DIR/NAME with DIR made absolute (the coordinator may run elsewhere).
std::string AbsolutePrefix(const std::string& dir, const std::string& name) {
  char absolute[PATH_MAX];
  if (dir.empty() || dir[0] == '/' || realpath(dir.c_str(), absolute) == nullptr) {
    return storage::JoinPath(dir, name);
  }
  return storage::JoinPath(absolute, name);
}

}  // namespace

std::string CheckpointDir(const config::JobConfig& config) {
  return storage::JoinPath(config.training().run_dir(), "checkpoints");
}

std::string PreemptionCheckpointDir(const config::JobConfig& config) {
  return storage::JoinPath(CheckpointDir(config), kPreemptionDirName);
}

StatusOr<std::string> FormatCheckpointName(const std::string& pattern, int64_t epoch,
                                           int64_t step,
                                           const std::map<std::string, double>& metrics) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '}') {
      return InvalidArgumentError("checkpoint.filepath '" + pattern + "': unbalanced '}'");
    }
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    size_t close = pattern.find('}', i);
    if (close == std::string::npos) {
      return InvalidArgumentError("checkpoint.filepath '" + pattern + "': unbalanced '{'");
    }
    std::string field = pattern.substr(i + 1, close - i - 1), spec;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    std::string text;
    if (field == "epoch" || field == "step") {
      ASSIGN_OR_RETURN(text, FormatField(field, spec,
                                         static_cast<double>(field == "epoch" ? epoch : step),
                                         true));
    } else if (auto found = metrics.find(field); found != metrics.end()) {
      ASSIGN_OR_RETURN(text, FormatField(field, spec, found->second, false));
    } else {
      std::string names = "epoch, step";
      for (const auto& [name, value] : metrics) names += ", " + name;
      return InvalidArgumentError("checkpoint.filepath '" + pattern + "': unknown field {" +
                                  field + "}; use " + names);
    }
    out += text;
    i = close;
  }
  if (out.empty() || out.find('/') != std::string::npos) {
    return InvalidArgumentError("checkpoint.filepath '" + pattern + "' gives the name '" + out +
                                "'");
  }
  return out;
}

Checkpointer::Checkpointer(const config::JobConfig& config, Trainer* trainer,
                           comm::Communicator* comm, coordinator::CoordinatorClient* client,
                           storage::FileSystem* fs, const SavedState* resumed)
    : config_(config),
      dir_(CheckpointDir(config)),
      trainer_(trainer),
      comm_(comm),
      client_(client),
      fs_(fs),
      config_hash_(TrajectoryConfigHash(config)),
      filepath_logs_(FilepathLogNames(config.checkpoint().filepath())) {
  // Test-only hook (tests/cli/checkpoint_resume_test.sh): a deterministic
  // preemption. Not a user setting; unset in real runs.
  if (const char* at = std::getenv("SHARDTRAIN_TEST_SIGTERM_AT_STEP")) {
    sigterm_at_step_ = std::strtoll(at, nullptr, 10);
  }
  auto every = CheckpointEverySteps(config.checkpoint());  // validated by ValidateJobConfig
  every_steps_ = every.ok() ? *every : 0;
  for (const std::string& name : metrics::LogNames(config)) last_metrics_[name] = std::nan("");
  // A resumed run names its checkpoints with the logs of the last epoch end
  // before its checkpoint, as the uninterrupted run does (NaN from a
  // checkpoint that does not hold them: one written before this was kept).
  callbacks::CallbackState& state = trainer_->callback_state();
  for (const std::string& name : filepath_logs_) {
    if (std::optional<double> value = state.Scalar(LastLogKey(name))) last_metrics_[name] = *value;
  }
  // Logs an earlier run's filepath named and this one does not: not carried
  // on (a later run naming them again would take them for this run's).
  const std::string prefix = LastLogKey("");
  for (auto it = state.scalars.begin(); it != state.scalars.end();) {
    const bool stale = it->first.rfind(prefix, 0) == 0 &&
                       std::find(filepath_logs_.begin(), filepath_logs_.end(),
                                 it->first.substr(prefix.size())) == filepath_logs_.end();
    it = stale ? state.scalars.erase(it) : std::next(it);
  }
  if (resumed != nullptr) {
    best_value_ = resumed->best_value;
    has_best_ = resumed->has_best;
    last_saved_step_ = resumed->progress.global_step;
  }
}

StatusOr<bool> Checkpointer::AnyRankPreempted() {
  double flag = PreemptionRequested() ? 1.0 : 0.0;
  if (comm_->world_size() > 1) {
    RETURN_IF_ERROR(comm_->AllReduceSumHostScalars(&flag, 1)
                        .WithContext("agreeing on a preemption checkpoint"));
  }
  return flag > 0;
}

Status Checkpointer::StopForPreemption() {
  const int64_t step = trainer_->progress().global_step;
  if (step != last_saved_step_ && !config_.checkpoint().save_best_only()) {
    ASSIGN_OR_RETURN(std::string prefix, Save());
    (void)prefix;
  } else if (step != last_saved_step_) {
    // Beside the best checkpoints, whose latest must stay the best (resume.h).
    const std::string dir = PreemptionCheckpointDir(config_);
    RETURN_IF_ERROR(comm::AgreeOnStatusKeepingOwnError(
        *comm_, fs_->CreateDirs(dir).WithContext("making " + dir), "saving"));
    // With the optimizer state whatever save_weights_only says: it exists to resume.
    ASSIGN_OR_RETURN(std::string prefix, SaveAs(dir, "ckpt-" + std::to_string(step),
                                                /*max_to_keep=*/1, /*weights_only=*/false));
    (void)prefix;
  }
  preempted_ = true;
  trainer_->RequestStop();
  return OkStatus();
}

Status Checkpointer::OnBatchEnd(const callbacks::BatchEnd& batch) {
  const int64_t step = trainer_->progress().global_step;
  if (step == sigterm_at_step_ && comm_->rank() == 0) std::raise(SIGTERM);
  if (comm_->world_size() == 1 || step % kPreemptionPollSteps == 0) {
    ASSIGN_OR_RETURN(bool preempted, AnyRankPreempted());
    if (preempted) return StopForPreemption();
  }
  // A step save due at an epoch's last step waits for the epoch's end
  // (OnEpochEnd), after validation and the callbacks before this one
  // (EarlyStopping may put the best weights back there).
  const bool epoch_ends = batch.step_in_epoch == batch.steps_per_epoch;
  if (StepSaveDue(step) && !epoch_ends) {
    ASSIGN_OR_RETURN(std::string prefix, Save());
    (void)prefix;
  }
  return OkStatus();
}

Status Checkpointer::OnEpochEnd(const callbacks::EpochEnd& epoch) {
  last_metrics_ = std::map<std::string, double>(epoch.logs.begin(), epoch.logs.end());
  RecordFilepathLogs();  // before this epoch's save: its checkpoint holds them
  const config::CheckpointConfig& policy = config_.checkpoint();
  bool save = policy.save_freq() == "epoch" || StepSaveDue(trainer_->progress().global_step);
  if (policy.save_best_only()) {
    const double value = last_metrics_[policy.monitor()];
    const bool improved = std::isfinite(value) &&
                          (!has_best_ || (policy.mode() == "min" ? value < best_value_
                                                                 : value > best_value_));
    if (improved) {
      best_value_ = value;
      has_best_ = true;
    }
    save = improved;
  }
  if (save && trainer_->progress().global_step != last_saved_step_) {
    ASSIGN_OR_RETURN(std::string prefix, Save());
    (void)prefix;
  }
  ASSIGN_OR_RETURN(bool preempted, AnyRankPreempted());
  if (preempted) return StopForPreemption();
  return OkStatus();
}

bool Checkpointer::StepSaveDue(int64_t step) const {
  return every_steps_ > 0 && step % every_steps_ == 0 && !config_.checkpoint().save_best_only();
}

Status Checkpointer::OnTrainEnd() {
  const config::CheckpointConfig& policy = config_.checkpoint();
  // A preemption save of a save_best_only run (this one, or an earlier run of
  // the job with other settings) is superseded by the end of training.
  RETURN_IF_ERROR(DropPreemptionSave());
  if (policy.save_best_only() || policy.save_freq() == "none") return OkStatus();
  if (trainer_->progress().global_step == last_saved_step_) return OkStatus();
  ASSIGN_OR_RETURN(std::string prefix, Save());
  (void)prefix;
  return OkStatus();
}

void Checkpointer::RecordFilepathLogs() {
  std::map<std::string, double>& scalars = trainer_->callback_state().scalars;
  for (const std::string& name : filepath_logs_) {
    auto found = last_metrics_.find(name);
    scalars[LastLogKey(name)] = found != last_metrics_.end() ? found->second : std::nan("");
  }
}

SavedState Checkpointer::CurrentState(bool weights_only) const {
  SavedState state;
  state.progress = trainer_->progress();
  state.best_value = best_value_;
  state.has_best = has_best_;
  state.config_hash = config_hash_;
  state.weights_only = weights_only;
  return state;
}

Status Checkpointer::WriteAndReportPart(const std::string& prefix,
                                        const std::string& absolute_prefix, bool weights_only) {
  const int rank = comm_->rank(), world = comm_->world_size();
  const SavedState state = CurrentState(weights_only);
  ASSIGN_OR_RETURN(std::vector<SaveTensor> tensors,
                   GatherCheckpointTensors(*trainer_, config_, state, snapshot_));
  const std::vector<int> owner = AssignTensorsToRanks(TensorBytes(tensors), world);
  const std::string data_file = storage::DataFilename(prefix, rank, world);
  const std::string temp = data_file + ".tempstate" + RandomSuffix();
  coordinator::CheckpointShardWritten part;
  Status written = WriteDataFile(fs_, temp, rank, tensors, owner, &part);
  if (written.ok()) written = fs_->Rename(temp, data_file);
  if (!written.ok()) {  // the temporary file may hold the space a full disk needs
    if (fs_->FileExists(temp)) fs_->DeleteFile(temp).IgnoreError();
    return storage::ExplainCheckpointWriteError(written, storage::DirName(prefix));
  }
  RETURN_IF_ERROR(fs_->SyncDir(storage::DirName(prefix)));
  part.set_prefix(absolute_prefix);
  part.set_num_shards(world);
  part.set_step(state.progress.global_step);
  return client_->ReportShardWritten(std::move(part))
      .WithContext("reporting checkpoint part of rank " + std::to_string(rank));
}

Status Checkpointer::Commit(const std::string& absolute_prefix, int64_t epoch,
                            int32_t max_to_keep) {
  coordinator::CheckpointCommitRequest commit;
  commit.set_prefix(absolute_prefix);
  commit.set_num_shards(comm_->world_size());
  commit.set_step(trainer_->progress().global_step);
  commit.set_epoch(epoch);
  commit.set_max_to_keep(max_to_keep);
  commit.set_keep_checkpoint_every_n_hours(config_.checkpoint().keep_checkpoint_every_n_hours());
  return client_->RequestCommit(commit).status();
}

int64_t Checkpointer::NameEpoch() const {
  const TrainingProgress& progress = trainer_->progress();
  return progress.position > 0 ? progress.epoch + 1 : progress.epoch;
}

StatusOr<std::string> Checkpointer::Save() {
  ASSIGN_OR_RETURN(std::string name,
                   FormatCheckpointName(config_.checkpoint().filepath(), NameEpoch(),
                                        trainer_->progress().global_step, last_metrics_));
  ASSIGN_OR_RETURN(std::string prefix, SaveAs(dir_, name, config_.checkpoint().max_to_keep(),
                                              config_.checkpoint().save_weights_only()));
  // A save_best_only preemption save (maybe of an earlier run of the job with
  // other settings) is now older than this one.
  RETURN_IF_ERROR(DropPreemptionSave());
  return prefix;
}

StatusOr<std::string> Checkpointer::SaveAs(const std::string& dir, const std::string& name,
                                           int32_t max_to_keep, bool weights_only) {
  const std::string prefix = storage::JoinPath(dir, name);
  const std::string absolute_prefix = AbsolutePrefix(dir, name);
  // Phase 1: every rank's data file is durable and reported (the agreement
  // is also the barrier before the commit).
  RETURN_IF_ERROR(
      comm::AgreeOnStatusKeepingOwnError(*comm_,
                                         WriteAndReportPart(prefix, absolute_prefix, weights_only)
                                             .WithContext("writing checkpoint " + prefix),
                                         "saving"));
  // Phase 2: rank 0 has the coordinator commit; every rank learns the outcome.
  Status committed =
      comm_->rank() == 0 ? Commit(absolute_prefix, NameEpoch(), max_to_keep) : OkStatus();
  RETURN_IF_ERROR(comm::AgreeOnStatusKeepingOwnError(
      *comm_, committed.WithContext("committing checkpoint " + prefix), "saving"));
  last_saved_step_ = trainer_->progress().global_step;
  last_saved_ = prefix;
  return prefix;
}

Status Checkpointer::DropPreemptionSave() {
  const std::string dir = PreemptionCheckpointDir(config_);
  Status dropped = OkStatus();
  if (comm_->rank() == 0 && fs_->IsDirectory(dir)) dropped = DeleteCheckpointDir(fs_, dir);
  return comm::AgreeOnStatusKeepingOwnError(
      *comm_, dropped.WithContext("deleting the superseded preemption checkpoint in " + dir),
      "saving");
}

}  // namespace shardtrain::checkpoint
