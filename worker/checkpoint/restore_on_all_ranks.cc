// Parallel restore: the ranks split the checkpoint's bytes evenly, each reads
// its part, the pieces' CRCs are combined and checked on every rank, and each
// piece is broadcast from its reader (contract in restore_on_all_ranks.h).
//
// Protocol (every step is collective, so no rank is left waiting):
//   1. every rank reads the training state and checks every variable against
//      the index; one allreduce agrees that all of them could;
//   2. the variables, in data-file order (shard, offset), are laid end to end
//      and cut into one contiguous range per rank of nearly equal size (cuts
//      4 KiB-aligned); every rank reads its range, piece by piece, taking each
//      piece's CRC-32C without verifying it;
//   3. every rank broadcasts its pieces' CRCs and whether its reads succeeded;
//      every rank combines each variable's piece CRCs (Crc32cCombine) and
//      checks them against the index, so all ranks reach the same verdict;
//   4. each piece is broadcast from the rank that read it.
// On the world size that saved the checkpoint, each rank's range is mostly its
// own data file; on any other, the work is still split evenly.
#include "worker/checkpoint/restore_on_all_ranks.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "storage/io/crc32c.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::checkpoint {
namespace {

// Range cuts fall on multiples of this (of the variables laid end to end), so
// reads start on page boundaries when the variables do.
constexpr uint64_t kCutAlignment = 4096;

// Bytes [begin, begin + bytes) of targets[target], read by rank `reader`.
struct Piece {
  size_t target = 0;
  uint64_t begin = 0;
  size_t bytes = 0;
  int reader = 0;
};

// The pieces of every target, in data-file order, each rank's pieces
// contiguous and in rank order.
StatusOr<std::vector<Piece>> SplitAmongRanks(const storage::BundleReader& reader,
                                             const std::vector<RestoreTarget>& targets,
                                             int world_size) {
  std::vector<std::pair<int64_t, int64_t>> location;  // (shard, offset) of each target
  for (const RestoreTarget& t : targets) {
    ASSIGN_OR_RETURN(tf::BundleEntryProto entry, reader.Entry(t.key));
    location.emplace_back(entry.shard_id(), entry.offset());
  }
  std::vector<size_t> order(targets.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return location[a] < location[b]; });
  uint64_t total = 0;
  for (const RestoreTarget& t : targets) total += t.bytes;
  auto cut = [&](int rank) {  // where rank `rank`'s range starts
    if (rank == world_size) return total;
    return total * static_cast<uint64_t>(rank) / static_cast<uint64_t>(world_size) /
           kCutAlignment * kCutAlignment;
  };

  std::vector<Piece> pieces;
  uint64_t start = 0;  // of the current target, end to end
  int rank = 0;
  for (size_t index : order) {
    const uint64_t end = start + targets[index].bytes;
    for (uint64_t at = start; at < end;) {
      while (cut(rank + 1) <= at) ++rank;
      const uint64_t until = std::min(end, cut(rank + 1));
      pieces.push_back({index, at - start, static_cast<size_t>(until - at), rank});
      at = until;
    }
    start = end;
  }
  return pieces;
}

// Collective: OK on every rank when `status` is OK on every rank. Otherwise a
// failing rank returns its own error and the others one naming the failing
// rank, so every rank stops at the same step.
Status AgreeOnEveryRank(const Status& status, comm::Communicator& comm, const std::string& what) {
  double failures[2] = {status.ok() ? 0.0 : 1.0, status.ok() ? 0.0 : comm.rank()};
  RETURN_IF_ERROR(comm.AllReduceSumHostScalars(failures, 2).WithContext("agreeing on " + what));
  RETURN_IF_ERROR(status);
  if (failures[0] == 0) return OkStatus();
  if (failures[0] == 1) {
    return FailedPreconditionError("rank " + std::to_string(static_cast<int>(failures[1])) +
                                   " could not finish " + what +
                                   " (its error is in that rank's output)");
  }
  return FailedPreconditionError(std::to_string(static_cast<int>(failures[0])) +
                                 " ranks could not finish " + what +
                                 " (their errors are in their output)");
}

// Steps 2-3 on this rank: reads its pieces, shares the CRCs, checks every
// variable. Collective; returns the same verdict on every rank except that a
// rank whose own read failed returns its own error.
Status ReadAndVerify(const storage::BundleReader& reader, const std::vector<RestoreTarget>& targets,
                     const std::vector<Piece>& pieces, comm::Communicator& comm,
                     const std::string& prefix) {
  Status read_status;
  std::vector<uint32_t> crc(pieces.size(), 0);
  for (size_t i = 0; i < pieces.size() && read_status.ok(); ++i) {
    const Piece& p = pieces[i];
    if (p.reader != comm.rank()) continue;
    char* out = reinterpret_cast<char*>(targets[p.target].data) + p.begin;
    StatusOr<uint32_t> got = reader.ReadPiece(targets[p.target].key, p.begin, p.bytes, out);
    if (got.ok()) {
      crc[i] = *got;
    } else {
      read_status = got.status();
    }
  }

  // Each rank's block: [failed, CRCs of its pieces...].
  std::vector<int> failed(static_cast<size_t>(comm.world_size()), 0);
  for (int rank = 0, first = 0; rank < comm.world_size(); ++rank) {
    int last = first;
    while (last < static_cast<int>(pieces.size()) && pieces[last].reader == rank) ++last;
    std::vector<uint32_t> block(static_cast<size_t>(last - first) + 1);
    if (rank == comm.rank()) {
      block[0] = read_status.ok() ? 0 : 1;
      std::copy(crc.begin() + first, crc.begin() + last, block.begin() + 1);
    }
    RETURN_IF_ERROR(
        comm.Broadcast(block.data(), static_cast<int64_t>(block.size() * sizeof(uint32_t)), rank)
            .WithContext("sharing the checksums of " + prefix + " read by rank " +
                         std::to_string(rank)));
    failed[static_cast<size_t>(rank)] = static_cast<int>(block[0]);
    std::copy(block.begin() + 1, block.end(), crc.begin() + first);
    first = last;
  }
  RETURN_IF_ERROR(read_status);
  for (size_t rank = 0; rank < failed.size(); ++rank) {
    if (failed[rank] != 0) {
      return FailedPreconditionError("rank " + std::to_string(rank) + " could not read its part of " +
                                     prefix + " (its error is in that rank's output)");
    }
  }

  std::vector<uint32_t> whole(targets.size(), 0);
  for (size_t i = 0; i < pieces.size(); ++i) {
    uint32_t& c = whole[pieces[i].target];
    c = storage::Crc32cCombine(c, crc[i], pieces[i].bytes);
  }
  for (size_t t = 0; t < targets.size(); ++t) RETURN_IF_ERROR(reader.CheckCrc(targets[t].key, whole[t]));
  return OkStatus();
}

}  // namespace

StatusOr<SavedState> RestoreOnAllRanks(storage::FileSystem* fs, const std::string& prefix,
                                       Trainer& trainer, comm::Communicator& comm) {
  StatusOr<std::unique_ptr<storage::BundleReader>> reader = storage::BundleReader::Open(fs, prefix);
  if (comm.world_size() == 1) {
    if (!reader.ok()) return reader.status();
    return RestoreCheckpoint(**reader, prefix, trainer, RestoreScope::kEverything);
  }

  Status status = reader.status();
  SavedState state;
  std::vector<RestoreTarget> targets;
  std::vector<Piece> pieces;
  if (status.ok()) {
    StatusOr<SavedState> read = RestoreCheckpoint(**reader, prefix, trainer, RestoreScope::kStateOnly);
    status = read.status();
    if (read.ok()) state = *std::move(read);
  }
  if (status.ok()) {
    StatusOr<std::vector<RestoreTarget>> checked =
        CheckedRestoreTargets(**reader, prefix, trainer, state.weights_only);
    status = checked.status();
    if (checked.ok()) targets = *std::move(checked);
  }
  if (status.ok()) {
    StatusOr<std::vector<Piece>> split = SplitAmongRanks(**reader, targets, comm.world_size());
    status = split.status();
    if (split.ok()) pieces = *std::move(split);
  }
  RETURN_IF_ERROR(AgreeOnEveryRank(status, comm, "the restore of " + prefix));

  RETURN_IF_ERROR(ReadAndVerify(**reader, targets, pieces, comm, prefix));
  for (const Piece& p : pieces) {
    const RestoreTarget& t = targets[p.target];
    RETURN_IF_ERROR(comm.Broadcast(reinterpret_cast<char*>(t.data) + p.begin,
                                   static_cast<int64_t>(p.bytes), p.reader)
                        .WithContext("broadcasting tensor '" + t.key + "' of " + prefix +
                                     " from rank " + std::to_string(p.reader)));
  }
  return state;
}

}  // namespace shardtrain::checkpoint
