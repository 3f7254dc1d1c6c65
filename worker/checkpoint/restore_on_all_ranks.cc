// Parallel restore: the ranks split the checkpoint's bytes evenly, each reads
// its part, the pieces' CRCs are combined and checked on every rank, and each
// piece is broadcast from its reader (contract in restore_on_all_ranks.h).
//
// Protocol (every step is collective, so no rank is left waiting):
//   1. every rank reads the training state, checks every variable against the
//      index and its data file's size, and reads (so verifies) every tensor
//      that is not a variable; one allreduce agrees that all of them could;
//   2. the variables, in data-file order (shard, offset), are laid end to end
//      and cut into one contiguous range per rank of nearly equal size (cuts
//      4 KiB-aligned), and, on more than one rank, ranges into pieces of at
//      most 16 MiB; every rank reads its range, piece by piece, taking each
//      piece's CRC-32C without verifying it, and starts each piece's
//      broadcast as soon as it is read (all ranks start the broadcasts in one
//      order, by how far into its reader's range each piece starts), and
//      lets MPI move the started broadcasts whenever a read waits for the
//      disk (DirectReadIdleWork), so broadcasting overlaps reading;
//   3. once every broadcast is done, every rank broadcasts its pieces' CRCs
//      and whether its reads succeeded; every rank combines each variable's
//      piece CRCs (Crc32cCombine) and checks them against the index, so all
//      ranks reach the same verdict.
// On the world size that saved the checkpoint, each rank's range is mostly its
// own data file; on any other, the work is still split evenly. One rank runs
// the same steps on whole tensors, without the broadcasts.
#include "worker/checkpoint/restore_on_all_ranks.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

#include "storage/checkpoint/verify.h"
#include "storage/io/crc32c.h"
#include "storage/io/direct_io.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::checkpoint {
namespace {

// Range cuts fall on multiples of this (of the variables laid end to end), so
// reads start on page boundaries when the variables do.
constexpr uint64_t kCutAlignment = 4096;
// With more than one rank, ranges are further cut into pieces of at most this
// size (at multiples of it, end to end), each broadcast as soon as it is read,
// so that the broadcasts run while the readers read on. On one VM node
// (docs/BENCHMARKS.md) a 2-rank restore of the 1.1 GB checkpoint took median
// 0.82 s with 16 MiB pieces against 0.97 s with whole tensors (12 restores
// each, interleaved); 4 and 64 MiB pieces were no better than 16.
constexpr uint64_t kMaxPieceBytes = uint64_t{16} << 20;

// The longest piece on `world_size` ranks. One rank has nothing to broadcast,
// so it reads whole tensors: every piece ends a direct read whose pipeline
// drains, which cost a 1-rank restore median 0.84 s against 0.64 s (30
// restores each, interleaved).
uint64_t MaxPieceBytes(int world_size) {
  return world_size == 1 ? std::numeric_limits<uint64_t>::max() : kMaxPieceBytes;
}

// Bytes [begin, begin + bytes) of targets[target], read by rank `reader`.
struct Piece {
  size_t target = 0;
  uint64_t begin = 0;
  size_t bytes = 0;
  int reader = 0;
};

// The pieces of every target, in data-file order, each rank's pieces
// contiguous and in rank order, none longer than MaxPieceBytes(world_size).
StatusOr<std::vector<Piece>> SplitAmongRanks(const storage::BundleReader& reader,
                                             const std::vector<RestoreTarget>& targets,
                                             int world_size) {
  std::vector<std::pair<int64_t, int64_t>> location;  // (shard, offset) of each target
  for (const RestoreTarget& t : targets) {
    RETURN_IF_ERROR(reader.CheckInFile(t.key));  // a short data file fails here, on every rank
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

  const uint64_t max_piece = MaxPieceBytes(world_size);
  std::vector<Piece> pieces;
  uint64_t start = 0;  // of the current target, end to end
  int rank = 0;
  for (size_t index : order) {
    const uint64_t end = start + targets[index].bytes;
    for (uint64_t at = start; at < end;) {
      while (cut(rank + 1) <= at) ++rank;
      const uint64_t until = std::min({end, cut(rank + 1), (at / max_piece + 1) * max_piece});
      pieces.push_back({index, at - start, static_cast<size_t>(until - at), rank});
      at = until;
    }
    start = end;
  }
  return pieces;
}

// What a rank's failure tells the others: whether the checkpoint itself is
// damaged or incomplete (a resume may fall back to an older one), or not.
enum FailureKind : uint32_t { kNoFailure = 0, kDamage = 1, kOtherFailure = 2 };

FailureKind KindOf(const Status& status) {
  if (status.ok()) return kNoFailure;
  return IsDamagedCheckpoint(status) ? kDamage : kOtherFailure;
}

// The error of a rank whose own step succeeded while `failures` ranks (the
// lowest `rank` among them when only one) failed, `any_damage` telling
// whether one of them found the checkpoint damaged.
Status AnotherRankFailed(int failures, int rank, bool any_damage, const std::string& what) {
  const std::string who = failures == 1 ? "rank " + std::to_string(rank)
                                        : std::to_string(failures) + " ranks";
  const std::string where = failures == 1 ? "its error is in that rank's output"
                                          : "their errors are in their output";
  if (any_damage) return DataLossError(who + " found damage in " + what + " (" + where + ")");
  return FailedPreconditionError(who + " could not finish " + what + " (" + where + ")");
}

// Collective: OK on every rank when `status` is OK on every rank. Otherwise a
// failing rank returns its own error and the others AnotherRankFailed, so
// every rank stops at the same step.
Status AgreeOnEveryRank(const Status& status, comm::Communicator& comm, const std::string& what) {
  const FailureKind kind = KindOf(status);
  double failures[3] = {kind != kNoFailure ? 1.0 : 0.0, kind != kNoFailure ? comm.rank() : 0.0,
                        kind == kDamage ? 1.0 : 0.0};
  RETURN_IF_ERROR(comm.AllReduceSumHostScalars(failures, 3).WithContext("agreeing on " + what));
  RETURN_IF_ERROR(status);
  if (failures[0] == 0) return OkStatus();
  return AnotherRankFailed(static_cast<int>(failures[0]), static_cast<int>(failures[1]),
                           failures[2] > 0, what);
}

// The indices of the pieces each rank reads, per rank, in piece order.
std::vector<std::vector<size_t>> PiecesByReader(const std::vector<Piece>& pieces, int world_size) {
  std::vector<std::vector<size_t>> by_reader(static_cast<size_t>(world_size));
  for (size_t i = 0; i < pieces.size(); ++i) {
    by_reader[static_cast<size_t>(pieces[i].reader)].push_back(i);
  }
  return by_reader;
}

// The order in which every rank starts the pieces' broadcasts: by how far
// into its reader's range each piece starts (ties in rank order), so that a
// rank posts its receive for a piece about when the piece's reader, reading as
// fast, gets there. Round-robin by piece count let a reader whose range held
// more, smaller pieces (tensor ends) run ahead of the receives for them: in 8
// interleaved 2-rank restores of the 1.1 GB checkpoint, the last rank to
// finish waited on average 45 ms after its own reads for the broadcasts with
// round-robin, against 28 ms with this order.
std::vector<size_t> BroadcastOrder(const std::vector<Piece>& pieces,
                                   const std::vector<std::vector<size_t>>& by_reader) {
  std::vector<uint64_t> into_range(pieces.size(), 0);
  for (const std::vector<size_t>& own : by_reader) {
    uint64_t read_before = 0;
    for (size_t i : own) {
      into_range[i] = read_before;
      read_before += pieces[i].bytes;
    }
  }
  std::vector<size_t> order(pieces.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (into_range[a] != into_range[b]) return into_range[a] < into_range[b];
    return pieces[a].reader < pieces[b].reader;
  });
  return order;
}

// Steps 2-4 on this rank: reads its pieces, broadcasting each as soon as it is
// read, shares the CRCs, checks every variable. Collective; returns the same
// verdict on every rank except that a rank whose own read failed returns its
// own error.
Status ReadBroadcastAndVerify(const storage::BundleReader& reader,
                              const std::vector<RestoreTarget>& targets,
                              const std::vector<Piece>& pieces, comm::Communicator& comm,
                              const std::string& prefix) {
  const std::vector<std::vector<size_t>> by_reader = PiecesByReader(pieces, comm.world_size());
  Status read_status;
  std::vector<uint32_t> crc(pieces.size(), 0);
  // The ranks of one node share its disk, which reads best with about
  // kMaxDirectReadsInFlight chunks in flight in all: on 2 ranks, 8 each gave a
  // restore median 0.68 s against 0.63 s with 4 each (6 interleaved pairs).
  const storage::DirectReadsInFlight share_the_disk(std::max<size_t>(
      2, storage::kMaxDirectReadsInFlight / static_cast<size_t>(comm.local_size())));
  // While a read waits for the disk, MPI moves the pieces already started.
  const storage::DirectReadIdleWork move_broadcasts([&comm] { return comm.ProgressBroadcasts(); });
  for (size_t i : BroadcastOrder(pieces, by_reader)) {
    const Piece& p = pieces[i];
    char* data = reinterpret_cast<char*>(targets[p.target].data) + p.begin;
    if (p.reader == comm.rank() && read_status.ok()) {
      StatusOr<uint32_t> got = reader.ReadPiece(targets[p.target].key, p.begin, p.bytes, data);
      if (got.ok()) {
        crc[i] = *got;
      } else {
        read_status = got.status();  // still broadcast (garbage): the verdict comes after
      }
    }
    if (comm.world_size() == 1) continue;
    RETURN_IF_ERROR(comm.StartBroadcast(data, static_cast<int64_t>(p.bytes), p.reader)
                        .WithContext("broadcasting tensor '" + targets[p.target].key + "' of " +
                                     prefix + " from rank " + std::to_string(p.reader)));
  }
  RETURN_IF_ERROR(comm.FinishBroadcasts().WithContext("broadcasting the variables of " + prefix));

  // Each rank's block: [failed, CRCs of its pieces in piece order...].
  std::vector<uint32_t> failed(static_cast<size_t>(comm.world_size()), kNoFailure);
  for (int rank = 0; rank < comm.world_size(); ++rank) {
    const std::vector<size_t>& own = by_reader[static_cast<size_t>(rank)];
    std::vector<uint32_t> block(own.size() + 1);
    block[0] = KindOf(read_status);
    for (size_t j = 0; j < own.size(); ++j) block[j + 1] = crc[own[j]];
    RETURN_IF_ERROR(
        comm.Broadcast(block.data(), static_cast<int64_t>(block.size() * sizeof(uint32_t)), rank)
            .WithContext("sharing the checksums of " + prefix + " read by rank " +
                         std::to_string(rank)));
    failed[static_cast<size_t>(rank)] = block[0];
    for (size_t j = 0; j < own.size(); ++j) crc[own[j]] = block[j + 1];
  }
  RETURN_IF_ERROR(read_status);
  for (size_t rank = 0; rank < failed.size(); ++rank) {
    if (failed[rank] != kNoFailure) {
      return AnotherRankFailed(1, static_cast<int>(rank), failed[rank] == kDamage,
                               "its part of " + prefix);
    }
  }

  std::vector<uint32_t> whole(targets.size(), 0);
  for (size_t i = 0; i < pieces.size(); ++i) {
    uint32_t& c = whole[pieces[i].target];
    c = storage::Crc32cCombine(c, crc[i], pieces[i].bytes);
  }
  for (size_t t = 0; t < targets.size(); ++t) {
    RETURN_IF_ERROR(reader.CheckCrc(targets[t].key, whole[t]));
  }
  return OkStatus();
}

}  // namespace

bool IsDamagedCheckpoint(const Status& status) {
  return status.code() == StatusCode::kDataLoss || status.code() == StatusCode::kNotFound;
}

StatusOr<SavedState> RestoreOnAllRanks(storage::FileSystem* fs, const std::string& prefix,
                                       Trainer& trainer, comm::Communicator& comm) {
  StatusOr<std::unique_ptr<storage::BundleReader>> reader = storage::BundleReader::Open(fs, prefix);
  Status status = reader.status();
  SavedState state;
  std::vector<RestoreTarget> targets;
  std::vector<Piece> pieces;
  if (status.ok()) {
    StatusOr<SavedState> read =
        RestoreCheckpoint(**reader, prefix, trainer, RestoreScope::kStateOnly);
    status = read.status();
    if (read.ok()) state = *std::move(read);
  }
  if (status.ok()) {
    StatusOr<std::vector<RestoreTarget>> checked =
        CheckedRestoreTargets(**reader, prefix, trainer, state.weights_only);
    status = checked.status();
    if (checked.ok()) targets = *std::move(checked);
  }
  if (status.ok()) {  // everything but the variables: small, so every rank checks it
    std::set<std::string> variables;
    for (const RestoreTarget& t : targets) variables.insert(t.key);
    status = storage::VerifyTensors(**reader, variables);
  }
  if (status.ok()) {
    StatusOr<std::vector<Piece>> split = SplitAmongRanks(**reader, targets, comm.world_size());
    status = split.status();
    if (split.ok()) pieces = *std::move(split);
  }
  RETURN_IF_ERROR(AgreeOnEveryRank(status, comm, "the restore of " + prefix));

  RETURN_IF_ERROR(ReadBroadcastAndVerify(**reader, targets, pieces, comm, prefix));
  return state;
}

}  // namespace shardtrain::checkpoint
