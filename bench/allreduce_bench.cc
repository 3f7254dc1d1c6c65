// allreduce_bench: bandwidth of summing a float buffer over the ranks of an
// mpirun job, for sizes 1 KB ... 256 MB (x4 steps), in one run:
//   ours    GradientReducer (25 MB buckets by default), one AllReduceSum per
//           bucket, on the communicator's gradient buffer
//           (AllocateGradientBuffer: a shared-memory window when all ranks
//           share the node, so the single-copy path; else private memory)
//   ours via MPI  the same on a private buffer: the MPI_Allreduce path (what
//           the trainer did before the shared-memory path)
//   single  one MPI_Allreduce of the whole buffer (MpiCommunicator::AllReduceSum
//           issues exactly one call below 2^30 elements)
//   memcpy  a memcpy of the same size on every rank at the same time
// memcpy's repetitions run first, then the allreduce methods interleaved
// (ours, ours via MPI, single, ours, ...); a repetition's time is the slowest
// rank's, separated by barriers; reported figures are medians. algbw = bytes / time; busbw = algbw * 2(N-1)/N (the data each rank
// moves in a ring-optimal allreduce, comparable across rank counts). Rank 0
// prints a markdown table with the machine.
//
// Usage: mpirun -np 2 allreduce_bench [--max-bytes B] [--bucket-bytes B]
//          [--seconds-per-size S] [--mpirun-version TEXT]
// (bench/run_allreduce_bench.sh runs it.) Single-threaded.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/flags.h"
#include "common/status.h"
#include "worker/comm/gradient_reducer.h"
#include "worker/comm/mpi_communicator.h"
#include "worker/comm/mpi_runtime.h"

namespace shardtrain {
namespace {

using comm::GradientReducer;
using comm::MpiCommunicator;
using comm::MpiRuntime;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown CPU";
}

std::string SizeName(int64_t bytes) {
  if (bytes >= (int64_t{1} << 20)) return std::to_string(bytes >> 20) + " MB";
  return std::to_string(bytes >> 10) + " KB";
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// Every rank's `mine` (same length everywhere) -> per index, the max over ranks.
StatusOr<std::vector<double>> MaxOverRanks(MpiCommunicator* comm, const std::vector<double>& mine) {
  const size_t n = mine.size();
  std::vector<double> all(n * comm->world_size(), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + n * comm->rank());
  RETURN_IF_ERROR(comm->AllReduceSum(all.data(), static_cast<int64_t>(all.size()),
                                     DType::kFloat64));
  std::vector<double> result(n, 0.0);
  for (int r = 0; r < comm->world_size(); ++r) {
    for (size_t i = 0; i < n; ++i) result[i] = std::max(result[i], all[r * n + i]);
  }
  return result;
}

struct Row {
  int64_t bytes = 0;
  int reps = 0;
  std::vector<double> seconds;  // median per method: memcpy, ours, ours via MPI, single
};

Status Run(const std::vector<std::string>& args) {
  std::optional<int64_t> max_bytes_flag, bucket_flag;
  std::optional<float> seconds_flag;
  std::optional<std::string> mpirun_version_flag;
  FlagSet flags("allreduce_bench",
                "mpirun -np N allreduce_bench [--max-bytes B] [--bucket-bytes B] "
                "[--seconds-per-size S] [--mpirun-version TEXT]",
                "Bucketed allreduce (shared-memory and MPI paths) vs one MPI_Allreduce vs "
                "memcpy, 1 KB to --max-bytes.");
  flags.Int("max-bytes", &max_bytes_flag, "largest buffer (default 256 MiB)");
  flags.Int("bucket-bytes", &bucket_flag, "GradientReducer bucket size (default 25 MiB)");
  flags.Float("seconds-per-size", &seconds_flag,
              "target time per size and method (default 0.4); at least 3 repetitions");
  flags.String("mpirun-version", &mpirun_version_flag, "`mpirun --version` line to print");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  const int64_t max_bytes = max_bytes_flag.value_or(int64_t{256} << 20);
  const int64_t bucket_bytes = bucket_flag.value_or(GradientReducer::kDefaultBucketBytes);
  const double target_s = seconds_flag.value_or(0.4f);
  if (max_bytes < 1024 || bucket_bytes < 4 || target_s <= 0) {
    return InvalidArgumentError(
        "need --max-bytes >= 1024, --bucket-bytes >= 4, --seconds-per-size > 0");
  }

  ASSIGN_OR_RETURN(std::unique_ptr<MpiRuntime> runtime, MpiRuntime::Init());
  Status status = [&]() -> Status {
    ASSIGN_OR_RETURN(std::unique_ptr<MpiCommunicator> comm, MpiCommunicator::Create(runtime.get()));
    const int rank = comm->rank();
    const int world = comm->world_size();
    const int64_t max_floats = max_bytes / 4;
    // First touch everything before timing anything. `shared` is what the
    // trainer's gradients live in (zeroed by the communicator).
    ASSIGN_OR_RETURN(float* shared, comm->AllocateGradientBuffer(max_floats));
    std::vector<float> grads(max_floats, 0.0f);
    if (shared == nullptr) shared = grads.data();
    std::vector<char> src(max_bytes), dst(max_bytes);
    for (int64_t i = 0; i < max_bytes; ++i) {
      src[i] = static_cast<char>(i * 131 + rank);
      dst[i] = static_cast<char>(i);
    }

    std::vector<Row> rows;
    const double start = Now();
    for (int64_t bytes = 1024; bytes <= max_bytes; bytes *= 4) {
      const int64_t floats = bytes / 4;
      GradientReducer reducer(comm.get(), floats, bucket_bytes);
      // Methods, in Row order: memcpy, ours, ours via MPI, single.
      std::vector<std::function<Status()>> methods = {
          [&]() {
            std::memcpy(dst.data(), src.data(), static_cast<size_t>(bytes));
            return OkStatus();
          },
          [&]() { return reducer.AllReduce(shared, nullptr, nullptr, nullptr); },
          [&]() { return reducer.AllReduce(grads.data(), nullptr, nullptr, nullptr); },
          [&]() { return comm->AllReduceSum(grads.data(), floats, DType::kFloat32); },
      };
      const int num_methods = static_cast<int>(methods.size());
      // One timed repetition: barrier, op, this rank's seconds.
      auto timed = [&](int m, double* seconds) -> Status {
        RETURN_IF_ERROR(comm->Barrier());
        const double t0 = Now();
        RETURN_IF_ERROR(methods[m]());
        *seconds = Now() - t0;
        return OkStatus();
      };
      // Warm-up, which also sizes the repetition count (the same on every rank).
      std::vector<double> warm(num_methods);
      for (int m = 0; m < num_methods; ++m) RETURN_IF_ERROR(timed(m, &warm[m]));
      ASSIGN_OR_RETURN(warm, MaxOverRanks(comm.get(), warm));
      const double slowest = std::max(*std::max_element(warm.begin(), warm.end()), 1e-7);
      const int reps = static_cast<int>(std::clamp(target_s / slowest, 5.0, 200.0));

      // memcpy's repetitions come first, in a block: right after a large
      // MPI_Allreduce a memcpy runs several times slower on this machine
      // (measured), which would charge MPI's aftermath to the copy. The
      // allreduce methods are interleaved with each other.
      std::vector<double> times(num_methods * reps);  // [rep][method]
      for (int r = 0; r < reps; ++r) RETURN_IF_ERROR(timed(0, &times[num_methods * r]));
      for (int r = 0; r < reps; ++r) {
        for (int m = 1; m < num_methods; ++m) {
          RETURN_IF_ERROR(timed(m, &times[num_methods * r + m]));
        }
      }
      ASSIGN_OR_RETURN(times, MaxOverRanks(comm.get(), times));
      Row row;
      row.bytes = bytes;
      row.reps = reps;
      std::vector<double> method(reps);
      for (int m = 0; m < num_methods; ++m) {
        for (int r = 0; r < reps; ++r) method[r] = times[num_methods * r + m];
        row.seconds.push_back(Median(method));
      }
      rows.push_back(row);
    }
    const double total_s = Now() - start;

    if (rank == 0) {
      const double bus = 2.0 * (world - 1) / world;
      std::printf("machine: %ld cores, %s\n", sysconf(_SC_NPROCESSORS_ONLN), CpuModel().c_str());
      std::printf("MPI: %s%s%s\n", runtime->library_version().c_str(),
                  mpirun_version_flag ? "; " : "",
                  mpirun_version_flag ? mpirun_version_flag->c_str() : "");
      std::printf("%d ranks, %d node-local; ours = GradientReducer, %s buckets, on the "
                  "communicator's gradient buffer (%s); ours via MPI = the same on a private "
                  "buffer; single = one MPI_Allreduce; medians, slowest rank per repetition; "
                  "GB/s = 1e9 bytes/s; %.1f s in all\n\n",
                  world, runtime->local_size(), SizeName(bucket_bytes).c_str(),
                  comm->shared_memory_enabled() ? "shared-memory window: single-copy path"
                                                : "private memory: MPI path",
                  total_s);
      std::printf("| size | reps | memcpy GB/s | ours us | ours algbw | ours busbw | ours / memcpy "
                  "| via MPI algbw | via MPI / memcpy | single us | single algbw |\n");
      std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
      for (const Row& row : rows) {
        const double b = static_cast<double>(row.bytes);
        const double copy = b / row.seconds[0] / 1e9, ours = b / row.seconds[1] / 1e9,
                     mpi = b / row.seconds[2] / 1e9, single = b / row.seconds[3] / 1e9;
        std::printf("| %s | %d | %.2f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f |\n",
                    SizeName(row.bytes).c_str(), row.reps, copy, row.seconds[1] * 1e6, ours,
                    ours * bus, ours / copy, mpi, mpi / copy, row.seconds[3] * 1e6, single);
      }
      std::fflush(stdout);
    }
    return OkStatus();
  }();
  if (!status.ok()) {
    std::cerr << "allreduce_bench (rank " << runtime->rank() << "): " << status.ToString() << "\n";
    runtime->Abort(1);  // the other ranks may be waiting in a collective
  }
  return OkStatus();
}

}  // namespace
}  // namespace shardtrain

int main(int argc, char** argv) {
  shardtrain::Status status = shardtrain::Run(std::vector<std::string>(argv + 1, argv + argc));
  if (!status.ok()) {
    std::cerr << "allreduce_bench: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
