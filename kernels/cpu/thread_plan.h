// How many OpenMP threads a process uses for the CPU kernels, so that ranks
// sharing a node share its cores instead of fighting over them.
//
// Each rank's team is the cores of its affinity mask divided by the ranks on
// its node (the launcher's OMPI_COMM_WORLD_LOCAL_SIZE or MPI_LOCALNRANKS; 1
// outside mpirun), at least 1, unless the user set OMP_NUM_THREADS, which
// wins. With one thread per rank nothing waits inside OpenMP, so ranks that
// outnumber the cores never spin against each other (a user's OMP_NUM_THREADS
// that oversubscribes the node's cores gets a warning: OpenMP's wait policy is
// read before main and cannot be changed here). Results do not depend on
// the thread count (kernels/cpu/parallel.h, dense.cc).
//
// Thread-safety: ApplyCpuThreadPlan is safe from any thread; ParallelFor and
// the GEMM call it, so every thread that runs kernels gets the plan.
#pragma once

namespace shardtrain::kernels::cpu {

struct CpuThreadPlan {
  int threads = 1;        // the OpenMP team size of this rank
  int cores = 1;          // CPUs in this process's affinity mask
  int ranks_on_node = 1;  // processes of the job on this node
  bool user_set = false;  // OMP_NUM_THREADS was set: `threads` is the runtime's
};

// max(1, cores / ranks_on_node).
int ThreadsPerRank(int cores, int ranks_on_node);

// The plan for this process, from its affinity mask and environment.
CpuThreadPlan PlanCpuThreads();

// Computes the plan once per process and, unless OMP_NUM_THREADS was set,
// applies it once per calling thread (omp_set_num_threads sets the calling
// thread's team size). Call outside parallel regions. Returns the plan.
const CpuThreadPlan& ApplyCpuThreadPlan();

}  // namespace shardtrain::kernels::cpu
