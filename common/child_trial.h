// RunTrialInChild: runs a piece of work in a forked child process first, so
// that a crash inside a library we cannot fix (libhdf5 1.10 on a damaged
// file) ends only the child and becomes a Status, never the caller's crash.
//
// The child runs `work` with stdout and stderr sent to /dev/null and exits 0
// when it returns. Whatever `work` returns or computes is thrown away: the
// caller then does the real work in-process, knowing that the same
// deterministic code on the same input did not crash. Costs a fork and a
// second run of `work`; meant for loading files, not for hot paths.
//
// The child must not need other threads of the process (only the forking
// thread exists in it), and `work` must not exit the process itself.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"

namespace shardtrain {

// OK when the child ran `work` to its end; DataLoss "<what> crashed (signal
// N, NAME)" or, where a sanitizer turned the fault into an exit, "<what>
// crashed (exit status N)" when it did not;
// DeadlineExceeded "<what> did not finish within S s" (the child is killed)
// after `deadline`. When no child can be made (fork fails), runs nothing and
// returns OK: the caller's in-process run is then unprotected, as it was
// without this check.
Status RunTrialInChild(const std::function<void()>& work, const std::string& what,
                       std::chrono::milliseconds deadline = std::chrono::minutes(10));

}  // namespace shardtrain
