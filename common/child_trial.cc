// RunTrialInChild (child_trial.h): fork, run, _exit(0); the parent polls
// waitpid until the child ends or the deadline passes.
#include "common/child_trial.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

namespace shardtrain {
namespace {

// In the child: silence its output, run, and leave without running exit
// handlers (atexit, static destructors, MPI or sanitizer hooks of the parent).
[[noreturn]] void RunInChild(const std::function<void()>& work) {
  const int null = open("/dev/null", O_WRONLY);
  if (null >= 0) {
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
  }
  work();
  _exit(0);
}

Status DescribeEnd(int status, const std::string& what) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  if (WIFSIGNALED(status)) {
    const int signal = WTERMSIG(status);
    return DataLossError(what + " crashed (signal " + std::to_string(signal) + ", " +
                         strsignal(signal) + ")");
  }
  // A non-zero exit is a crash too: a sanitizer reports a fault and exits 1.
  return DataLossError(what + " crashed (exit status " + std::to_string(WEXITSTATUS(status)) +
                       ")");
}

}  // namespace

Status RunTrialInChild(const std::function<void()>& work, const std::string& what,
                       std::chrono::milliseconds deadline) {
  const pid_t child = fork();
  if (child < 0) return OkStatus();  // no isolation available: the caller runs unprotected
  if (child == 0) RunInChild(work);
  const auto end = std::chrono::steady_clock::now() + deadline;
  auto pause = std::chrono::microseconds(100);
  while (true) {
    int status = 0;
    const pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) return DescribeEnd(status, what);
    if (done < 0 && errno != EINTR) {
      return InternalError(what + ": waiting for the trial process failed: " + strerror(errno));
    }
    if (std::chrono::steady_clock::now() >= end) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      return DeadlineExceededError(
          what + " did not finish within " +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(deadline).count()) +
          " s");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

}  // namespace shardtrain
