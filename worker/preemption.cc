#include "worker/preemption.h"

#include <cerrno>
#include <csignal>
#include <cstring>

namespace shardtrain {
namespace {

volatile std::sig_atomic_t preemption_requested = 0;

void OnSigterm(int) { preemption_requested = 1; }

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

bool PreemptionRequested() { return preemption_requested != 0; }

void RequestPreemptionForTest() { preemption_requested = 1; }

}  // namespace shardtrain
