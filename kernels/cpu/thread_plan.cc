// PlanCpuThreads / ApplyCpuThreadPlan: see thread_plan.h.
#include "kernels/cpu/thread_plan.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "common/logging.h"

namespace shardtrain::kernels::cpu {
namespace {

// A positive integer environment variable, or 0 when absent or malformed.
int PositiveEnv(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || value[0] == '\0') return 0;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return *end == '\0' && parsed > 0 && parsed < (1 << 20) ? static_cast<int>(parsed) : 0;
}

int CoresInAffinityMask() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) return omp_get_num_procs();
  return std::max(1, CPU_COUNT(&mask));
}

// Open MPI's and MPICH's (Hydra) count of the job's processes on this node.
int RanksOnThisNode() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"}) {
    if (const int ranks = PositiveEnv(name); ranks > 0) return ranks;
  }
  return 1;
}

// A user's OMP_NUM_THREADS that puts more threads on this node's share of
// cores than it has keeps OpenMP's spinning waits (set before the runtime
// starts, so not ours to change): say so once.
void WarnIfOversubscribed(const CpuThreadPlan& plan) {
  const bool spinning =
      std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr;
  if (!plan.user_set || !spinning || plan.threads <= 1 ||
      int64_t{plan.threads} * plan.ranks_on_node <= plan.cores) {
    return;
  }
  LOG(WARNING) << "OMP_NUM_THREADS=" << plan.threads << " with " << plan.ranks_on_node
               << " rank(s) on this node's " << plan.cores
               << " core(s) oversubscribes them and their spinning threads slow every rank; "
                  "unset it (each rank then uses its share) or set OMP_WAIT_POLICY=passive";
}

}  // namespace

int ThreadsPerRank(int cores, int ranks_on_node) {
  return std::max(1, cores / std::max(1, ranks_on_node));
}

CpuThreadPlan PlanCpuThreads() {
  CpuThreadPlan plan;
  plan.cores = CoresInAffinityMask();
  plan.ranks_on_node = RanksOnThisNode();
  plan.user_set = PositiveEnv("OMP_NUM_THREADS") > 0;
  plan.threads =
      plan.user_set ? omp_get_max_threads() : ThreadsPerRank(plan.cores, plan.ranks_on_node);
  return plan;
}

const CpuThreadPlan& ApplyCpuThreadPlan() {
  static const CpuThreadPlan plan = [] {
    CpuThreadPlan p = PlanCpuThreads();
    WarnIfOversubscribed(p);
    return p;
  }();
  thread_local bool applied = false;
  if (!applied) {
    if (!plan.user_set) omp_set_num_threads(plan.threads);
    applied = true;
  }
  return plan;
}

}  // namespace shardtrain::kernels::cpu
