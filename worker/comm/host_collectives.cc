// Host collectives over host-memory sums of doubles: every value travels as a
// double that only one rank makes non-zero, so the sum delivers it exactly.
#include "worker/comm/host_collectives.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace shardtrain::comm {
namespace {

// Sums `values` over ranks (AllReduceSumHostDoubles).
Status SumHostScalars(Communicator& comm, std::vector<double>* values) {
  return AllReduceSumHostDoubles(comm, values->data(), static_cast<int64_t>(values->size()));
}

// Bytes per double when carrying text: 4 bytes is a value below 2^32, which
// a double holds exactly.
constexpr size_t kBytesPerScalar = 4;

}  // namespace

Status AllReduceSumHostDoubles(Communicator& comm, double* values, int64_t count) {
  if (count < 0) {
    return InvalidArgumentError("AllReduceSumHostDoubles: negative count " +
                                std::to_string(count));
  }
  if (count == 0) return OkStatus();
  // Only nccl's AllReduceSum takes device memory (Communicator::name()).
  if (comm.name() != "nccl") return comm.AllReduceSum(values, count, DType::kFloat64);
  for (int64_t begin = 0; begin < count; begin += Communicator::kMaxHostScalars) {
    const int chunk =
        static_cast<int>(std::min<int64_t>(Communicator::kMaxHostScalars, count - begin));
    RETURN_IF_ERROR(comm.AllReduceSumHostScalars(values + begin, chunk));
  }
  return OkStatus();
}

StatusOr<std::string> BroadcastHostString(Communicator& comm, const std::string& text, int root) {
  RETURN_IF_ERROR(ValidateBroadcastArgs(&text, 0, root, comm.world_size()));
  const bool is_root = comm.rank() == root;
  std::vector<double> size = {is_root ? static_cast<double>(text.size()) : 0.0};
  RETURN_IF_ERROR(SumHostScalars(comm, &size));
  const size_t bytes = static_cast<size_t>(size[0]);
  std::vector<double> packed((bytes + kBytesPerScalar - 1) / kBytesPerScalar, 0.0);
  if (is_root) {
    for (size_t i = 0; i < bytes; ++i) {
      const uint32_t byte = static_cast<unsigned char>(text[i]);
      packed[i / kBytesPerScalar] += static_cast<double>(byte << (8 * (i % kBytesPerScalar)));
    }
  }
  RETURN_IF_ERROR(SumHostScalars(comm, &packed));
  std::string received(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    const auto word = static_cast<uint32_t>(packed[i / kBytesPerScalar]);
    received[i] = static_cast<char>((word >> (8 * (i % kBytesPerScalar))) & 0xff);
  }
  return received;
}

Status AgreeOnStatus(Communicator& comm, const Status& local, std::string_view what) {
  const int world = comm.world_size();
  if (world == 1) return local;
  // One slot per rank: its status code, 0 when it succeeded.
  std::vector<double> codes(static_cast<size_t>(world), 0.0);
  codes[static_cast<size_t>(comm.rank())] = static_cast<double>(static_cast<int>(local.code()));
  RETURN_IF_ERROR(SumHostScalars(comm, &codes).WithContext("agreeing on " + std::string(what)));
  const auto first = std::find_if(codes.begin(), codes.end(), [](double c) { return c != 0; });
  if (first == codes.end()) return OkStatus();
  const int failed_rank = static_cast<int>(first - codes.begin());
  const auto others = std::count_if(first + 1, codes.end(), [](double c) { return c != 0; });
  ASSIGN_OR_RETURN(std::string message,
                   BroadcastHostString(comm, std::string(local.message()), failed_rank));
  std::string text = "rank " + std::to_string(failed_rank) + " of " + std::to_string(world) +
                     " failed " + std::string(what) + ": " + message;
  if (others > 0) {
    text += " (and " + std::to_string(others) + " other rank" + (others > 1 ? "s" : "") +
            " failed too)";
  }
  return Status(static_cast<StatusCode>(static_cast<int>(*first)), text);
}

Status AgreeOnStatusKeepingOwnError(Communicator& comm, const Status& local,
                                    std::string_view what) {
  const Status agreed = AgreeOnStatus(comm, local, what);
  return local.ok() ? agreed : local;
}

}  // namespace shardtrain::comm
