#include "coordinator/worker_registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "coordinator/json_text.h"
#include <limits>

#include "common/logging.h"

namespace shardtrain::coordinator {
namespace {

double SecondsBetween(WorkerRegistry::TimePoint a, WorkerRegistry::TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}


// Seconds for messages: three significant digits.
std::string Seconds(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.3g", value);
  return buffer;
}

}  // namespace

WorkerRegistry::WorkerRegistry(int world_size, double heartbeat_timeout_seconds)
    : ranks_(static_cast<size_t>(std::max(world_size, 0))),
      timeout_seconds_(heartbeat_timeout_seconds) {}

Status WorkerRegistry::Register(int rank, const std::string& hostname, int64_t pid,
                                TimePoint now) {
  if (rank < 0 || rank >= world_size()) {
    return InvalidArgumentError("rank " + std::to_string(rank) + " is outside the job's ranks [0, " +
                                std::to_string(world_size()) + ")");
  }
  Rank& r = ranks_[static_cast<size_t>(rank)];
  if (r.registered) {
    return AlreadyExistsError("rank " + std::to_string(rank) + " is already registered by " +
                              Describe(rank) + "; two processes claim the same rank");
  }
  r.registered = true;
  r.connected = true;
  r.hostname = hostname;
  r.pid = pid;
  r.last_heard = now;
  r.progress.set_rank(rank);
  return OkStatus();
}

bool WorkerRegistry::IsRegistered(int rank) const {
  return rank >= 0 && rank < world_size() && ranks_[static_cast<size_t>(rank)].registered;
}

void WorkerRegistry::Touch(int rank, TimePoint now) {
  if (IsRegistered(rank)) ranks_[static_cast<size_t>(rank)].last_heard = now;
}

void WorkerRegistry::RecordHeartbeat(const Heartbeat& heartbeat, TimePoint now) {
  if (!IsRegistered(heartbeat.rank())) return;
  Rank& r = ranks_[static_cast<size_t>(heartbeat.rank())];
  r.last_heard = now;
  r.heard = true;
  r.progress = heartbeat;
}

void WorkerRegistry::MarkDone(int rank) {
  if (IsRegistered(rank)) ranks_[static_cast<size_t>(rank)].done = true;
}

std::string WorkerRegistry::Describe(int rank) const {
  if (!IsRegistered(rank)) return "rank " + std::to_string(rank);
  const Rank& r = ranks_[static_cast<size_t>(rank)];
  return "rank " + std::to_string(rank) + " (host " + r.hostname + ", pid " +
         std::to_string(r.pid) + ")";
}

void WorkerRegistry::Abort(const std::string& reason) {
  if (aborted()) return;  // the first cause is the one reported
  abort_reason_ = reason.empty() ? "aborted" : reason;
  LOG(ERROR) << "coordinator: aborting the job: " << abort_reason_;
}

void WorkerRegistry::ConnectionClosed(int rank, const std::string& what) {
  if (!IsRegistered(rank)) return;
  Rank& r = ranks_[static_cast<size_t>(rank)];
  r.connected = false;
  if (!r.done) Abort(Describe(rank) + " " + what);
}

void WorkerRegistry::CheckLiveness(TimePoint now) {
  for (int rank = 0; rank < world_size(); ++rank) {
    const Rank& r = ranks_[static_cast<size_t>(rank)];
    if (!r.registered || r.done || !r.connected) continue;
    const double silent = SecondsBetween(r.last_heard, now);
    if (silent > timeout_seconds_) {
      Abort(Describe(rank) + " stopped sending heartbeats " + Seconds(silent) + " s ago (timeout " +
            Seconds(timeout_seconds_) + " s; is it stopped or hung?)");
    }
  }
}

bool WorkerRegistry::all_done() const {
  return std::all_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.done; });
}

bool WorkerRegistry::all_disconnected() const {
  return std::none_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.connected; });
}

void WorkerRegistry::RecordCheckpoint(std::string prefix, int64_t step, TimePoint when) {
  last_checkpoint_ = std::move(prefix);
  last_checkpoint_step_ = step;
  last_checkpoint_time_ = when;
}

std::string WorkerRegistry::StatusJson(TimePoint now) const {
  // The job is as far as its slowest reporting rank; loss and accuracy are
  // over the examples of the ranks in that epoch.
  int64_t epoch = std::numeric_limits<int64_t>::max(), step = std::numeric_limits<int64_t>::max();
  double examples_per_sec = 0;
  bool any = false;
  for (const Rank& r : ranks_) {
    if (!r.heard) continue;
    any = true;
    epoch = std::min(epoch, r.progress.epoch());
    step = std::min(step, r.progress.step());
    examples_per_sec += r.progress.examples_per_sec();
  }
  if (!any) epoch = step = 0;
  int64_t examples = 0, correct = 0, in_epoch = 0;
  double loss_sum = 0, loss_of_ranks = 0;
  for (const Rank& r : ranks_) {
    if (!r.heard || r.progress.epoch() != epoch) continue;
    examples += r.progress.examples();
    correct += r.progress.correct();
    loss_sum += r.progress.loss_sum();
    loss_of_ranks += r.progress.loss();
    ++in_epoch;
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double loss = examples > 0 ? loss_sum / static_cast<double>(examples)
                                   : (in_epoch > 0 ? loss_of_ranks / in_epoch : nan);
  const double accuracy = examples > 0 ? static_cast<double>(correct) / examples : nan;

  std::string ranks;
  for (int rank = 0; rank < world_size(); ++rank) {
    const Rank& r = ranks_[static_cast<size_t>(rank)];
    if (!ranks.empty()) ranks += ", ";
    ranks += "{\"rank\": " + std::to_string(rank) +
             ", \"registered\": " + (r.registered ? "true" : "false") +
             ", \"connected\": " + (r.connected ? "true" : "false") +
             ", \"done\": " + (r.done ? "true" : "false") +
             ", \"host\": " + (r.registered ? JsonString(r.hostname) : "null") +
             ", \"pid\": " + (r.registered ? std::to_string(r.pid) : "null") +
             ", \"last_heartbeat_age_seconds\": " +
             (r.registered ? JsonNumber(SecondsBetween(r.last_heard, now)) : "null") +
             ", \"epoch\": " + std::to_string(r.progress.epoch()) +
             ", \"step\": " + std::to_string(r.progress.step()) +
             ", \"examples_per_sec\": " + JsonNumber(r.progress.examples_per_sec()) + "}";
  }
  return "{\"epoch\": " + std::to_string(epoch) + ", \"step\": " + std::to_string(step) +
         ", \"examples_per_sec\": " + JsonNumber(examples_per_sec) +
         ", \"loss\": " + JsonNumber(loss) + ", \"accuracy\": " + JsonNumber(accuracy) +
         ", \"examples\": " + std::to_string(examples) +
         ", \"world_size\": " + std::to_string(world_size()) +
         ", \"aborted\": " + (aborted() ? "true" : "false") +
         ", \"abort_reason\": " + (aborted() ? JsonString(abort_reason_) : "null") +
         ", \"ranks\": [" + ranks + "], \"last_checkpoint\": " +
         (last_checkpoint_.empty()
              ? std::string("null")
              : "{\"prefix\": " + JsonString(last_checkpoint_) +
                    ", \"step\": " + std::to_string(last_checkpoint_step_) +
                    ", \"age_seconds\": " +
                    JsonNumber(SecondsBetween(last_checkpoint_time_, now)) + "}") +
         "}";
}

}  // namespace shardtrain::coordinator
