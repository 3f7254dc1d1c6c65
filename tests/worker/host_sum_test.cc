// comm::AllReduceSumHostDoubles: the metrics' sums (AUC's 400 counts) cross
// ranks in one AllReduceSum on host-memory communicators (local, mpi), and in
// kMaxHostScalars pieces through AllReduceSumHostScalars on a device one
// (nccl); a negative count is InvalidArgument before any communication. The
// multi-rank sums: tests/mpi/host_collectives_mpi_test.cc, metrics_mpi_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "worker/comm/host_collectives.h"

namespace shardtrain::comm {
namespace {

// Two ranks' worth of a sum on one process: every call doubles the values,
// as a sum over two ranks holding the same values would. Counts the calls.
class CountingCommunicator : public Communicator {
 public:
  explicit CountingCommunicator(std::string name) : name_(std::move(name)) {}
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  std::string_view name() const override { return name_; }
  Status AllReduceSum(void* data, int64_t count, DType dtype) override {
    RETURN_IF_ERROR(ValidateAllReduceArgs(data, count, dtype));
    ++all_reduce_calls;
    double* values = static_cast<double*>(data);
    for (int64_t i = 0; i < count; ++i) values[i] *= 2;
    return OkStatus();
  }
  Status AllReduceSumHostScalars(double* values, int count) override {
    ++host_scalar_calls;
    for (int i = 0; i < count; ++i) values[i] *= 2;
    return OkStatus();
  }
  Status Broadcast(void*, int64_t, int) override { return OkStatus(); }
  Status Barrier() override { return OkStatus(); }

  int all_reduce_calls = 0;
  int host_scalar_calls = 0;

 private:
  std::string name_;
};

std::vector<double> Counts(size_t n) {
  std::vector<double> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<double>(i);
  return values;
}

TEST(AllReduceSumHostDoublesTest, HostMemoryCommunicatorsSumEverythingInOneCall) {
  for (const char* name : {"local", "mpi"}) {
    CountingCommunicator comm(name);
    std::vector<double> values = Counts(403);  // loss, correct, examples and AUC's 400
    ASSERT_TRUE(AllReduceSumHostDoubles(comm, values.data(), 403).ok());
    EXPECT_EQ(comm.all_reduce_calls, 1) << name;
    EXPECT_EQ(comm.host_scalar_calls, 0) << name;
    EXPECT_EQ(values[402], 804.0) << name;
  }
}

TEST(AllReduceSumHostDoublesTest, ADeviceCommunicatorStagesThemInHostScalarPieces) {
  CountingCommunicator comm("nccl");
  std::vector<double> values = Counts(403);
  ASSERT_TRUE(AllReduceSumHostDoubles(comm, values.data(), 403).ok());
  EXPECT_EQ(comm.all_reduce_calls, 0);
  EXPECT_EQ(comm.host_scalar_calls,
            (403 + Communicator::kMaxHostScalars - 1) / Communicator::kMaxHostScalars);
  EXPECT_EQ(values, [] {
    std::vector<double> doubled = Counts(403);
    for (double& v : doubled) v *= 2;
    return doubled;
  }());
}

TEST(AllReduceSumHostDoublesTest, NothingToSumMakesNoCallAndANegativeCountIsRefused) {
  CountingCommunicator comm("mpi");
  EXPECT_TRUE(AllReduceSumHostDoubles(comm, nullptr, 0).ok());
  EXPECT_EQ(comm.all_reduce_calls, 0);
  double value = 1;
  EXPECT_EQ(AllReduceSumHostDoubles(comm, &value, -1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comm.all_reduce_calls, 0);
}

}  // namespace
}  // namespace shardtrain::comm
