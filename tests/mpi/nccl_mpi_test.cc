// NCCL communicator under mpirun (CUDA+NCCL builds only): device-buffer sums,
// broadcast and the host-scalar path. Skips on every rank alike when the node
// has fewer CUDA devices than ranks (no GPU on the build machines).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "tests/mpi/mpi_test_main.h"
#include "worker/comm/communicator_factory.h"
#include "worker/comm/gradient_reducer.h"

namespace shardtrain::comm {
namespace {

class NcclMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
    if (devices < testing::Runtime()->local_size()) {
      GTEST_SKIP() << devices << " CUDA device(s) for " << testing::Runtime()->local_size()
                   << " ranks on this node";
    }
    StatusOr<std::unique_ptr<Communicator>> comm =
        CreateCommunicator("nccl", /*device_is_cuda=*/true, testing::Runtime());
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(comm).value();
  }
  void TearDown() override {
    if (device_ != nullptr) cudaFree(device_);
  }
  float* Upload(const std::vector<float>& host) {
    EXPECT_EQ(cudaMalloc(&device_, host.size() * sizeof(float)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(device_, host.data(), host.size() * sizeof(float),
                         cudaMemcpyHostToDevice),
              cudaSuccess);
    return static_cast<float*>(device_);
  }
  std::vector<float> Download(size_t n) {
    std::vector<float> host(n);
    EXPECT_EQ(cudaMemcpy(host.data(), device_, n * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }

  std::unique_ptr<Communicator> comm_;
  void* device_ = nullptr;
};

TEST_F(NcclMpiTest, GradientReducerOnDeviceBuffers) {
  const int rank = comm_->rank();
  const int world = comm_->world_size();
  constexpr int64_t kN = 10007;
  std::vector<float> host(kN);
  for (int64_t i = 0; i < kN; ++i) host[i] = float((rank + 1) * (i % 97));
  float* grads = Upload(host);
  GradientReducer reducer(comm_.get(), kN, 1024);
  double loss = rank + 1;
  int64_t examples = 10;
  ASSERT_TRUE(reducer.AllReduce(grads, &loss, &examples, nullptr).ok());
  std::vector<float> out = Download(kN);
  const int64_t rank_sum = int64_t{world} * (world + 1) / 2;
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(out[i], float(rank_sum * (i % 97))) << i;
  EXPECT_EQ(loss, double(rank_sum));
  EXPECT_EQ(examples, 10 * world);
}

TEST_F(NcclMpiTest, BroadcastFromLastRank) {
  const int root = comm_->world_size() - 1;
  std::vector<float> host(513, comm_->rank() == root ? 7.0f : -1.0f);
  Upload(host);
  ASSERT_TRUE(comm_->Broadcast(device_, 513 * sizeof(float), root).ok());
  EXPECT_EQ(Download(513), std::vector<float>(513, 7.0f));
  EXPECT_TRUE(comm_->Barrier().ok());
}

// Host buffers (the control plane's, the restore's) are staged through the
// communicator's device buffer, in 4 MiB chunks: 1.5 M doubles take three.
TEST_F(NcclMpiTest, HostBuffersAreStaged) {
  const int rank = comm_->rank();
  const int world = comm_->world_size();
  constexpr int64_t kN = 1500000;
  std::vector<double> sums(kN);
  for (int64_t i = 0; i < kN; ++i) sums[i] = double((rank + 1) * (i % 89));
  ASSERT_TRUE(comm_->AllReduceSum(sums.data(), kN, DType::kFloat64).ok());
  const int64_t rank_sum = int64_t{world} * (world + 1) / 2;
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(sums[i], double(rank_sum * (i % 89))) << i;
  std::vector<char> bytes(5 << 20, rank == 0 ? 'x' : 'y');
  ASSERT_TRUE(comm_->Broadcast(bytes.data(), static_cast<int64_t>(bytes.size()), 0).ok());
  EXPECT_EQ(bytes, std::vector<char>(5 << 20, 'x'));
}

}  // namespace
}  // namespace shardtrain::comm
