// The CPU thread plan: a rank's team is its cores divided by the ranks on its
// node, at least 1; OMP_NUM_THREADS wins; the plan reaches OpenMP.
#include "kernels/cpu/thread_plan.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <stdlib.h>

#include <optional>
#include <string>

namespace shardtrain::kernels::cpu {
namespace {

TEST(ThreadPlanTest, CoresAreSharedByTheRanksOfANode) {
  EXPECT_EQ(ThreadsPerRank(2, 1), 2);
  EXPECT_EQ(ThreadsPerRank(2, 2), 1);
  EXPECT_EQ(ThreadsPerRank(2, 3), 1);  // never 0
  EXPECT_EQ(ThreadsPerRank(2, 4), 1);
  EXPECT_EQ(ThreadsPerRank(64, 8), 8);
  EXPECT_EQ(ThreadsPerRank(64, 3), 21);
  EXPECT_EQ(ThreadsPerRank(4, 0), 4);  // a bad count is one rank
}

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ThreadPlanTest, RanksOnTheNodeComeFromTheLauncher) {
  ScopedEnv threads("OMP_NUM_THREADS", nullptr);
  ScopedEnv mpich("MPI_LOCALNRANKS", nullptr);
  {
    ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_SIZE", "3");
    const CpuThreadPlan plan = PlanCpuThreads();
    EXPECT_EQ(plan.ranks_on_node, 3);
    EXPECT_FALSE(plan.user_set);
    EXPECT_EQ(plan.threads, ThreadsPerRank(plan.cores, 3));
  }
  {
    ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_SIZE", nullptr);
    ScopedEnv hydra("MPI_LOCALNRANKS", "2");
    EXPECT_EQ(PlanCpuThreads().ranks_on_node, 2);
  }
  ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_SIZE", "junk");
  const CpuThreadPlan plan = PlanCpuThreads();
  EXPECT_EQ(plan.ranks_on_node, 1);
  EXPECT_EQ(plan.threads, plan.cores);
}

TEST(ThreadPlanTest, OmpNumThreadsWins) {
  ScopedEnv threads("OMP_NUM_THREADS", "3");
  ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_SIZE", "4");
  const CpuThreadPlan plan = PlanCpuThreads();
  EXPECT_TRUE(plan.user_set);
  EXPECT_EQ(plan.threads, omp_get_max_threads());
}

TEST(ThreadPlanTest, AppliedPlanSetsTheTeamSize) {
  const CpuThreadPlan& plan = ApplyCpuThreadPlan();
  EXPECT_GE(plan.threads, 1);
  if (!plan.user_set) {
    EXPECT_EQ(omp_get_max_threads(), plan.threads);
  }
}

}  // namespace
}  // namespace shardtrain::kernels::cpu
