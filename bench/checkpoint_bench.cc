// checkpoint_bench: save and restore throughput of a >= 1 GB checkpoint through
// the real code path (checkpoint::Checkpointer::Save with the two-phase
// commit through an in-process coordinator; checkpoint::RestoreOnAllRanks, as
// `shardtrain train` resumes), on 1 rank or under mpirun.
//
// The model is a wide MLP (--width, default 8192: 784 → W → W → 10 with Adam,
// so parameters + two slots ≈ 3 × 4 × (784W + W² + 10W) bytes ≈ 0.9 GB at 8192,
// 1.1 GB at 9216). Save: the wall time of Save() on the slowest rank, every
// rank writing its share. Restore: every rank reads an equal share of the
// checkpoint's bytes, then broadcasts it to the others (cold when the caller
// dropped the page cache in between: --pause-file waits for a file to appear
// so the script can drop caches).
//
// Usage: [mpirun -np N] checkpoint_bench --dir DIR [--width W] [--pause-file F]
// Prints "save_seconds S bytes B" and "restore_seconds S bytes B" on rank 0.
//
// checkpoint_bench --read-into-memory FILE: the baseline a restore is held to
// besides dd: a plain sequential read() of FILE (64 MiB calls, through the page
// cache) into one ready (touched) buffer of its size, as any restore must land
// every byte in memory. Prints "read_into_memory_seconds S bytes B".
#include <fcntl.h>
#include <mpi.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "common/flags.h"
#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "kernels/backend.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/restore_on_all_ranks.h"
#include "worker/comm/communicator_factory.h"
#include "worker/comm/mpi_runtime.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The plain-read baseline (see the header comment).
Status ReadIntoMemory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return ErrnoToStatus(errno, "fstat", path);
  }
  std::vector<char> buffer(static_cast<size_t>(st.st_size), 1);  // touched, like model memory
  const double start = Now();
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t got = ::read(fd, buffer.data() + done, std::min<size_t>(buffer.size() - done, 64 << 20));
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  const double seconds = Now() - start;
  ::close(fd);
  if (done != buffer.size()) return DataLossError("short read of " + path);
  std::printf("read_into_memory_seconds %.3f bytes %zu\n", seconds, done);
  return OkStatus();
}

Status Run(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--read-into-memory") return ReadIntoMemory(argv[2]);
  std::optional<std::string> dir, pause_file;
  std::optional<int64_t> width;
  FlagSet flags("checkpoint_bench", "checkpoint_bench --dir DIR [--width W]", "");
  flags.String("dir", &dir, "run directory for the checkpoints (same disk as the baselines)");
  flags.String("pause-file", &pause_file, "wait before restoring until this file exists");
  flags.Int("width", &width, "hidden width (default 8192)");
  RETURN_IF_ERROR(flags.Parse(std::vector<std::string>(argv + 1, argv + argc)));
  if (!dir) return InvalidArgumentError("--dir is required");
  const int64_t w = width.value_or(8192);

  ASSIGN_OR_RETURN(auto mpi, comm::MpiRuntime::Init());
  ASSIGN_OR_RETURN(auto comm, comm::CreateCommunicator("auto", false, mpi.get()));
  const std::string text =
      "model { input_shape: [784] layers { dense { units: " + std::to_string(w) +
      " activation: RELU } } layers { dense { units: " + std::to_string(w) +
      " activation: RELU } } layers { dense { units: 10 } } }\n"
      "optimizer { adam {} } loss { sparse_categorical_crossentropy { from_logits: true } }\n"
      "data { dir: \"unused\" num_classes: 10 }\n"
      "training { batch_size: 32 epochs: 1 seed: 1 run_dir: \"" + *dir + "\" }\n"
      "checkpoint { filepath: \"bench\" max_to_keep: -1 }\n";
  ASSIGN_OR_RETURN(config::JobConfig config, ParseJobConfig(text, "bench"));
  RETURN_IF_ERROR(ValidateJobConfig(&config));
  auto backend = kernels::CreateCpuBackend();
  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, backend.get(), comm.get()));
  RETURN_IF_ERROR(storage::PosixFileSystem()->CreateDirs(checkpoint::CheckpointDir(config)));

  // The control plane: rank 0 hosts a coordinator; its port travels over MPI.
  std::unique_ptr<coordinator::Coordinator> hosted;
  int32_t port = 0;
  if (comm->rank() == 0) {
    coordinator::CoordinatorOptions options;
    options.world_size = comm->world_size();
    options.global_batch = 32;
    options.shard_sizes = {1};
    ASSIGN_OR_RETURN(hosted, coordinator::Coordinator::Start(options));
    port = hosted->port();
  }
  RETURN_IF_ERROR(comm->Broadcast(&port, sizeof(port), 0));
  ASSIGN_OR_RETURN(auto client, coordinator::CoordinatorClient::Connect(
                                    "127.0.0.1", port, "", comm->rank(), comm->world_size(), 30));
  client->set_io_timeout_seconds(600);
  checkpoint::Checkpointer checkpointer(config, trainer.get(), comm.get(), client.get(),
                                        storage::PosixFileSystem(), nullptr);
  const model::ParameterStore& params = trainer->model().parameters();
  const double bytes = 3.0 * 4.0 * static_cast<double>(params.size());  // weights + m + v

  RETURN_IF_ERROR(comm->Barrier());
  const double save_start = Now();
  ASSIGN_OR_RETURN(std::string prefix, checkpointer.Save());
  RETURN_IF_ERROR(comm->Barrier());
  const double save_seconds = Now() - save_start;
  if (comm->rank() == 0) std::printf("save_seconds %.3f bytes %.0f\n", save_seconds, bytes);
  std::fflush(stdout);

  if (pause_file) {  // the script drops the page cache, then creates the file
    if (comm->rank() == 0) {
      std::printf("paused %s\n", pause_file->c_str());
      std::fflush(stdout);
      while (access(pause_file->c_str(), F_OK) != 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    RETURN_IF_ERROR(comm->Barrier());
  }
  const double restore_start = Now();
  ASSIGN_OR_RETURN(checkpoint::SavedState state,
                   checkpoint::RestoreOnAllRanks(storage::PosixFileSystem(), prefix, *trainer,
                                                 *comm));
  (void)state;
  RETURN_IF_ERROR(comm->Barrier());
  const double restore_seconds = Now() - restore_start;
  if (comm->rank() == 0) std::printf("restore_seconds %.3f bytes %.0f\n", restore_seconds, bytes);
  RETURN_IF_ERROR(client->Done());
  return comm->Barrier();
}

}  // namespace
}  // namespace shardtrain

int main(int argc, char** argv) {
  shardtrain::Status status = shardtrain::Run(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
