#include "coordinator/worker_registry.h"

#include <cstdio>

#include "common/logging.h"

namespace shardtrain::coordinator {
namespace {

double SecondsBetween(WorkerRegistry::TimePoint a, WorkerRegistry::TimePoint b) {
  return std::chrono::duration<double>(b - a).count();
}

// Minimal JSON string escaping (quotes, backslashes, control characters).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

}  // namespace

WorkerRegistry::WorkerRegistry(int world_size, double heartbeat_timeout_seconds)
    : ranks_(static_cast<size_t>(world_size)), timeout_seconds_(heartbeat_timeout_seconds) {}

Status WorkerRegistry::Register(int rank, const std::string& hostname, int64_t pid,
                                TimePoint now) {
  if (rank < 0 || rank >= static_cast<int>(ranks_.size())) {
    return InvalidArgumentError("rank " + std::to_string(rank) + " is outside the job's [0, " +
                                std::to_string(ranks_.size()) + ")");
  }
  Rank& r = ranks_[static_cast<size_t>(rank)];
  if (r.registered) {
    return InvalidArgumentError("rank " + std::to_string(rank) + " is already registered (" +
                                Describe(rank) + "); two processes claim the same rank");
  }
  r.registered = true;
  r.hostname = hostname;
  r.pid = pid;
  r.last_heard = now;
  r.progress.set_rank(rank);
  return OkStatus();
}

void WorkerRegistry::Heartbeat(const coordinator::Heartbeat& heartbeat, TimePoint now) {
  Rank& r = ranks_[static_cast<size_t>(heartbeat.rank())];
  r.last_heard = now;
  r.progress = heartbeat;
}

void WorkerRegistry::MarkDone(int rank) { ranks_[static_cast<size_t>(rank)].done = true; }

std::string WorkerRegistry::Describe(int rank) const {
  const Rank& r = ranks_[static_cast<size_t>(rank)];
  return "rank " + std::to_string(rank) + " (host " + r.hostname + ", pid " +
         std::to_string(r.pid) + ")";
}

void WorkerRegistry::Abort(const std::string& reason) {
  if (aborted()) return;  // the first cause is the one reported
  abort_reason_ = reason;
  LOG(ERROR) << "coordinator: aborting the job: " << reason;
}

void WorkerRegistry::ConnectionLost(int rank, const std::string& what) {
  if (ranks_[static_cast<size_t>(rank)].done) return;
  Abort(Describe(rank) + " " + what);
}

void WorkerRegistry::CheckLiveness(TimePoint now) {
  for (int rank = 0; rank < static_cast<int>(ranks_.size()); ++rank) {
    const Rank& r = ranks_[static_cast<size_t>(rank)];
    if (!r.registered || r.done) continue;
    double silent = SecondsBetween(r.last_heard, now);
    if (silent > timeout_seconds_) {
      Abort(Describe(rank) + " stopped sending heartbeats " + Number(silent) +
            " s ago (timeout " + Number(timeout_seconds_) + " s; is it stopped or hung?)");
    }
  }
}

bool WorkerRegistry::all_done() const {
  for (const Rank& r : ranks_) {
    if (!r.done) return false;
  }
  return true;
}

std::string WorkerRegistry::StatusJson(TimePoint now) const {
  int64_t epoch = 0, step = 0;
  double loss = 0, examples_per_sec = 0;
  std::string ranks;
  for (int rank = 0; rank < static_cast<int>(ranks_.size()); ++rank) {
    const Rank& r = ranks_[static_cast<size_t>(rank)];
    if (rank == 0) {
      epoch = r.progress.epoch();
      step = r.progress.step();
      loss = r.progress.loss();
    }
    examples_per_sec += r.progress.examples_per_sec();
    if (!ranks.empty()) ranks += ", ";
    ranks += "{\"rank\": " + std::to_string(rank) +
             ", \"registered\": " + (r.registered ? "true" : "false") +
             ", \"done\": " + (r.done ? "true" : "false") + ", \"host\": " + JsonString(r.hostname) +
             ", \"pid\": " + std::to_string(r.pid) + ", \"last_heartbeat_age_seconds\": " +
             (r.registered ? Number(SecondsBetween(r.last_heard, now)) : "null") +
             ", \"epoch\": " + std::to_string(r.progress.epoch()) +
             ", \"step\": " + std::to_string(r.progress.step()) + "}";
  }
  return "{\"epoch\": " + std::to_string(epoch) + ", \"step\": " + std::to_string(step) +
         ", \"examples_per_sec\": " + Number(examples_per_sec) + ", \"loss\": " + Number(loss) +
         ", \"world_size\": " + std::to_string(ranks_.size()) +
         ", \"aborted\": " + (aborted() ? "true" : "false") +
         ", \"abort_reason\": " + (aborted() ? JsonString(abort_reason_) : "null") +
         ", \"last_checkpoint\": null, \"ranks\": [" + ranks + "]}";
}

}  // namespace shardtrain::coordinator
