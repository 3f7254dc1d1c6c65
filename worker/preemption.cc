#include "worker/preemption.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace shardtrain {
namespace {

// SIGTERM may land on any thread (the heartbeat thread, the coordinator's, an
// OpenMP worker) while the training thread polls: a lock-free atomic is both
// async-signal-safe and free of a data race between the two threads, which a
// volatile sig_atomic_t is not.
std::atomic<bool> preemption_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void OnSigterm(int) { preemption_requested.store(true); }

}  // namespace

Status InstallPreemptionHandler() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnSigterm;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &action, nullptr) != 0) {
    return InternalError(std::string("sigaction(SIGTERM) failed: ") + std::strerror(errno));
  }
  return OkStatus();
}

bool PreemptionRequested() { return preemption_requested.load(); }

void RequestPreemptionForTest() { preemption_requested.store(true); }

}  // namespace shardtrain
