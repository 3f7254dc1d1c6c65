// main() for mpi-labelled tests: see mpi_test_main.h.
#include "tests/mpi/mpi_test_main.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "worker/comm/mpi_communicator.h"

namespace shardtrain::comm::testing {
namespace {

MpiRuntime* g_runtime = nullptr;

// Replaces gtest's printer on ranks other than 0: failures only, prefixed.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n[rank %d] %s\n", rank_,
                 result.file_name() != nullptr ? result.file_name() : "?", result.line_number(),
                 rank_, result.summary());
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed()) {
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(),
                   info.name());
    }
  }

 private:
  int rank_;
};

int Main(int argc, char** argv) {
  int timeout_s = 100;
  if (const char* env = std::getenv("SHARDTRAIN_MPI_TEST_TIMEOUT")) timeout_s = std::atoi(env);
  if (timeout_s > 0) alarm(static_cast<unsigned>(timeout_s));  // default action: terminate

  StatusOr<std::unique_ptr<MpiRuntime>> runtime = MpiRuntime::Init();
  if (!runtime.ok()) {
    std::fprintf(stderr, "MPI initialization failed: %s\n", runtime.status().ToString().c_str());
    return 2;
  }
  g_runtime = runtime->get();
  const int rank = g_runtime->rank();
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  int rc = RUN_ALL_TESTS();

  // Every rank learns whether any rank failed.
  int64_t failed_ranks = rc != 0 ? 1 : 0;
  {
    StatusOr<std::unique_ptr<MpiCommunicator>> comm = MpiCommunicator::Create(g_runtime);
    Status status = comm.ok() ? (*comm)->AllReduceSum(&failed_ranks, 1, DType::kInt64)
                              : comm.status();
    if (!status.ok()) {
      std::fprintf(stderr, "[rank %d] could not agree on the outcome: %s\n", rank,
                   status.ToString().c_str());
      failed_ranks = 1;
    }
  }
  if (rank == 0) {
    std::printf("[mpi] %d rank(s): %s\n", g_runtime->world_size(),
                failed_ranks == 0 ? "all passed"
                                  : (std::to_string(failed_ranks) + " rank(s) failed").c_str());
  }
  g_runtime = nullptr;
  runtime->reset();  // MPI_Finalize
  return failed_ranks == 0 ? 0 : 1;
}

}  // namespace

MpiRuntime* Runtime() { return g_runtime; }

}  // namespace shardtrain::comm::testing

int main(int argc, char** argv) { return shardtrain::comm::testing::Main(argc, argv); }
