#include "worker/checkpoint/resume.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <utility>

#include "common/logging.h"
#include "storage/checkpoint/commit.h"
#include "storage/checkpoint/state_file.h"
#include "storage/checkpoint/verify.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/restore_on_all_ranks.h"
#include "worker/comm/host_collectives.h"
#include "worker/job_config.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::checkpoint {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// Writes one line "path: old -> new" per changed leaf field. A side that
// lacks the field shows "(not set)", except a proto3 scalar without presence,
// which shows its (default) value; an optimizer.learning_rate of 0 shows the
// rate it stands for, "0.001 (default)".
class ChangeReporter : public MessageDifferencer::StreamReporter {
 public:
  using StreamReporter::StreamReporter;

  void ReportAdded(const Message& message1, const Message& message2,
                   const std::vector<MessageDifferencer::SpecificField>& path) override {
    Line(message1, message2, path, /*has_old=*/false, /*has_new=*/true);
  }
  void ReportDeleted(const Message& message1, const Message& message2,
                     const std::vector<MessageDifferencer::SpecificField>& path) override {
    Line(message1, message2, path, /*has_old=*/true, /*has_new=*/false);
  }
  void ReportModified(const Message& message1, const Message& message2,
                      const std::vector<MessageDifferencer::SpecificField>& path) override {
    const FieldDescriptor* field = path.back().field;
    // A changed message's changed fields are reported on their own.
    if (field == nullptr || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return;
    Line(message1, message2, path, /*has_old=*/true, /*has_new=*/true);
  }

 private:
  void Line(const Message& message1, const Message& message2,
            const std::vector<MessageDifferencer::SpecificField>& path, bool has_old,
            bool has_new) {
    const FieldDescriptor* field = path.back().field;
    if (field == nullptr) return;  // unknown fields: our parser rejects them
    const bool shows_default = !field->is_repeated() && !field->has_presence();
    PrintPath(path, /*left_side=*/has_old);
    Print(": ");
    Side(message1, path, /*left_side=*/true, has_old || shows_default);
    Print(" -> ");
    Side(message2, path, /*left_side=*/false, has_new || shows_default);
    Print("\n");
  }

  void Side(const Message& message, const std::vector<MessageDifferencer::SpecificField>& path,
            bool left_side, bool has_value) {
    if (!has_value) {
      Print("(not set)");
    } else if (const config::OptimizerConfig* defaulted = DefaultRateOptimizer(message, path)) {
      std::ostringstream rate;
      rate << optimizer::DefaultLearningRate(*defaulted) << " (default)";
      Print(rate.str());
    } else {
      PrintValue(message, path, left_side);
    }
  }

  // `message` (the differencer passes the message holding the field) when
  // `path` is optimizer.learning_rate and that is 0, the kind's default
  // rate; otherwise null.
  static const config::OptimizerConfig* DefaultRateOptimizer(
      const Message& message, const std::vector<MessageDifferencer::SpecificField>& path) {
    const auto* optimizer = dynamic_cast<const config::OptimizerConfig*>(&message);
    if (optimizer == nullptr || path.size() != 2 ||
        path[0].field != config::JobConfig::descriptor()->FindFieldByName("optimizer") ||
        path[1].field !=
            config::OptimizerConfig::descriptor()->FindFieldByName("learning_rate") ||
        optimizer->learning_rate() != 0) {
      return nullptr;
    }
    return optimizer;
  }
};

// The job config the checkpoint at `prefix` was written with (its config text).
StatusOr<config::JobConfig> CheckpointJobConfig(storage::FileSystem* fs,
                                                const std::string& prefix) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::BundleReader> reader,
                   storage::BundleReader::Open(fs, prefix));
  const std::string key = std::string(kStatePrefix) + "config";
  ASSIGN_OR_RETURN(std::vector<std::string> text, reader->ReadStrings(key));
  if (text.size() != 1) return DataLossError(prefix + ": " + key + " is not one string");
  return ParseJobConfig(text[0], prefix + " " + key);
}

// "a; b; c" for the changes from the checkpoint at `prefix`'s config to
// `current`, or a generic list when its config cannot be read or compared.
std::string DescribeConfigChanges(storage::FileSystem* fs, const std::string& prefix,
                                  const config::JobConfig& current) {
  StatusOr<config::JobConfig> saved = CheckpointJobConfig(fs, prefix);
  std::vector<std::string> changes;
  if (saved.ok()) changes = TrajectoryConfigChanges(*saved, current);
  if (changes.empty()) {
    return "model, optimizer, loss, data selection, validation_split, batch size, seed, shuffle "
           "or reduce_lr_on_plateau changed; its "
           "config is stored under _SHARDTRAIN_STATE/config";
  }
  std::string joined;
  for (const std::string& change : changes) joined += (joined.empty() ? "" : "; ") + change;
  return joined;
}

}  // namespace

std::vector<std::string> TrajectoryConfigChanges(const config::JobConfig& saved,
                                                 const config::JobConfig& current) {
  const config::JobConfig old_fields = TrajectoryConfig(saved);
  const config::JobConfig new_fields = TrajectoryConfig(current);
  std::string text;
  {
    google::protobuf::io::StringOutputStream stream(&text);
    ChangeReporter reporter(&stream);  // flushes into `text` when destroyed
    MessageDifferencer differencer;
    reporter.SetMessages(old_fields, new_fields);  // lets PrintPath name map keys
    differencer.ReportDifferencesTo(&reporter);
    differencer.Compare(old_fields, new_fields);
  }
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', begin)) {
    lines.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return lines;
}

StatusOr<ResumeCandidates> FindResumeCandidates(storage::FileSystem* fs, const std::string& dir,
                                                const ResumeOptions& options) {
  // A save_best_only job's preemption save, when there is one, is newer than
  // every checkpoint of `dir` (the next save or the end of training deletes it).
  const std::string preemption = storage::JoinPath(dir, kPreemptionDirName);
  for (const std::string& swept_dir : {dir, preemption}) {
    ASSIGN_OR_RETURN(std::vector<std::string> swept,
                     storage::SweepUnfinishedCheckpoints(fs, swept_dir));
    for (const std::string& name : swept) {
      LOG(WARNING) << "removed " << storage::JoinPath(swept_dir, name)
                   << " (left by an unfinished save)";
    }
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
  if (options.no_resume) return candidates;
  for (const std::string& listed_dir : {preemption, dir}) {
    if (!fs->FileExists(storage::JoinPath(listed_dir, storage::kCheckpointStateFile))) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> found, storage::CheckpointCandidates(fs, listed_dir));
    candidates.prefixes.insert(candidates.prefixes.end(), found.begin(), found.end());
  }
  candidates.fall_back = !candidates.prefixes.empty();
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
    // Every rank has the same error (RestoreOnAllRanks agrees on it): fall
    // back past damage only.
    if (!IsDamagedCheckpoint(state.status())) return state.status();
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
  if (resumed->state.config_hash != TrajectoryConfigHash(config)) {
    const std::string changes = DescribeConfigChanges(fs, resumed->prefix, config);
    if (!allow_config_change) {
      return FailedPreconditionError(
          "checkpoint " + resumed->prefix + " was written with a different job config (" + changes +
          "). Pass --allow-config-change to resume anyway, --no-resume to start afresh, or use "
          "another --run-dir");
    }
    if (comm.rank() == 0) {
      warnings << "warning: --allow-config-change: resuming " << resumed->prefix
               << " with a changed job config (" << changes << ")" << std::endl;
    }
  }
  trainer.ResumeFrom(resumed->state.progress);
  trainer.callback_state() = resumed->state.callbacks;
  return resumed;
}

bool TrainingComplete(const TrainingProgress& progress, const config::JobConfig& config) {
  return progress.epoch >= config.training().epochs();
}

}  // namespace shardtrain::checkpoint
