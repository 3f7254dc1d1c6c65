#include "coordinator/checkpoint_committer.h"

#include <algorithm>
#include <vector>

#include "common/logging.h"

namespace shardtrain::coordinator {
namespace {

// Unfinished saves kept at most; beyond it the one whose first part arrived
// earliest (a crashed save's) is dropped.
constexpr size_t kMaxPendingPrefixes = 8;

}  // namespace

Status CheckpointCommitter::AddPart(int rank, const CheckpointShardWritten& part) {
  const std::string& prefix = part.prefix();
  if (part.rank() != rank) {
    return InvalidArgumentError("checkpoint part for rank " + std::to_string(part.rank()) +
                                " sent by rank " + std::to_string(rank));
  }
  if (part.num_shards() != world_size_) {
    return InvalidArgumentError("checkpoint part of " + std::to_string(part.num_shards()) +
                                " shards but the job has " + std::to_string(world_size_) +
                                " ranks");
  }
  if (prefix.empty() || prefix[0] != '/') {
    return InvalidArgumentError("checkpoint prefix '" + prefix + "' is not an absolute path");
  }
  if (part.entries().empty()) {
    return InvalidArgumentError("rank " + std::to_string(rank) + " reported no tensors for " +
                                prefix);
  }
  storage::CheckpointPart stored;
  stored.rank = rank;
  for (const CheckpointShardWritten::Entry& entry : part.entries()) {
    if (entry.entry().shard_id() != rank) {
      return InvalidArgumentError("rank " + std::to_string(rank) + " reported '" + entry.key() +
                                  "' in shard " + std::to_string(entry.entry().shard_id()));
    }
    stored.entries.emplace_back(entry.key(), entry.entry());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (pending_.count(prefix) == 0) {
    if (pending_.size() >= kMaxPendingPrefixes) {
      auto oldest = std::min_element(pending_.begin(), pending_.end(), [](const auto& a, const auto& b) {
        return a.second.opened < b.second.opened;
      });
      LOG(WARNING) << "coordinator: dropping the unfinished checkpoint " << oldest->first;
      pending_.erase(oldest);
    }
    pending_[prefix].opened = saves_opened_++;
  }
  pending_[prefix].parts[rank] = std::move(stored);
  return OkStatus();
}

StatusOr<CheckpointCommitReply> CheckpointCommitter::Commit(const CheckpointCommitRequest& request,
                                                            double now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (request.num_shards() != world_size_) {
    return InvalidArgumentError("commit of " + std::to_string(request.num_shards()) +
                                " shards but the job has " + std::to_string(world_size_) +
                                " ranks");
  }
  auto found = pending_.find(request.prefix());
  std::string missing;
  for (int r = 0; r < world_size_; ++r) {
    if (found == pending_.end() || found->second.parts.count(r) == 0) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
  }
  if (!missing.empty()) {
    return FailedPreconditionError("cannot commit checkpoint " + request.prefix() + ": rank(s) " +
                                   missing + " did not report their part");
  }
  std::vector<storage::CheckpointPart> parts;
  for (auto& [rank, part] : found->second.parts) parts.push_back(std::move(part));
  pending_.erase(found);
  storage::RetentionPolicy policy;
  policy.max_to_keep = request.max_to_keep();
  policy.keep_checkpoint_every_n_hours = request.keep_checkpoint_every_n_hours();
  ASSIGN_OR_RETURN(storage::CommitResult result,
                   storage::CommitCheckpoint(fs_, request.prefix(), request.num_shards(),
                                             std::move(parts), policy, now));
  last_committed_ = result.prefix;
  last_committed_step_ = request.step();
  CheckpointCommitReply committed;
  committed.set_prefix(result.prefix);
  for (const std::string& deleted : result.deleted) committed.add_deleted(deleted);
  return committed;
}

std::string CheckpointCommitter::last_committed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_committed_;
}

int64_t CheckpointCommitter::last_committed_step() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_committed_step_;
}

}  // namespace shardtrain::coordinator
