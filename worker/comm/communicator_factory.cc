// CreateCommunicator: the --collective decision table (see the header).
// Thread-safety: main thread only.
#include "worker/comm/communicator_factory.h"

#include "worker/comm/local_communicator.h"
#include "worker/comm/mpi_communicator.h"
#ifdef SHARDTRAIN_HAVE_NCCL
#include "worker/comm/nccl_communicator.h"
#endif

namespace shardtrain::comm {
namespace {

StatusOr<std::unique_ptr<Communicator>> MakeNccl(bool device_is_cuda, MpiRuntime* mpi) {
  if (!NcclCompiledIn()) {
    return FailedPreconditionError(
        "--collective nccl: this binary was built without CUDA/NCCL "
        "(configure with CUDA and NCCL available), use --collective mpi on CPU");
  }
  if (!device_is_cuda) {
    return FailedPreconditionError(
        "--collective nccl needs a CUDA device, but the device is the CPU; "
        "use --device cuda, or --collective mpi/auto for CPU training");
  }
#ifdef SHARDTRAIN_HAVE_NCCL
  return CreateNcclCommunicator(mpi);
#else
  return InternalError("unreachable: NCCL not compiled in");
#endif
}

StatusOr<std::unique_ptr<Communicator>> MakeMpi(MpiRuntime* mpi) {
  if (mpi == nullptr) {
    return FailedPreconditionError(
        "--collective mpi needs MPI, which is initialized only under mpirun: "
        "launch with `mpirun -np N shardtrain train ...` or use --collective auto/local");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> comm, MpiCommunicator::Create(mpi));
  return std::unique_ptr<Communicator>(std::move(comm));
}

}  // namespace

bool NcclCompiledIn() {
#ifdef SHARDTRAIN_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const std::string& collective,
                                                           bool device_is_cuda, MpiRuntime* mpi) {
  const int world_size = mpi != nullptr ? mpi->world_size() : 1;
  if (collective == "local") {
    if (world_size > 1) {
      return FailedPreconditionError(
          "--collective local runs one rank, but mpirun started " + std::to_string(world_size) +
          "; use --collective auto, mpi (CPU) or nccl (CUDA)");
    }
    return std::unique_ptr<Communicator>(std::make_unique<LocalCommunicator>());
  }
  if (collective == "mpi") return MakeMpi(mpi);
  if (collective == "nccl") return MakeNccl(device_is_cuda, mpi);
  if (collective == "auto") {
    if (world_size == 1) return std::unique_ptr<Communicator>(std::make_unique<LocalCommunicator>());
    if (device_is_cuda) {
      if (!NcclCompiledIn()) {
        return FailedPreconditionError(
            "--collective auto: " + std::to_string(world_size) +
            " ranks on CUDA devices need NCCL, and this binary was built without it; "
            "rebuild with CUDA/NCCL or train with --device cpu");
      }
      return MakeNccl(device_is_cuda, mpi);
    }
    return MakeMpi(mpi);
  }
  return InvalidArgumentError("--collective \"" + collective +
                              "\" is not one of auto, mpi, nccl, local");
}

}  // namespace shardtrain::comm
