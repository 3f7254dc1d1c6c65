// Parallel restore (contract in restore_on_all_ranks.h), four collective
// steps agreeing on success after each: (1) check the index, read the
// state and small tensors, cut the variables into ranges; (2) read this rank's
// pieces (a variable's part in a range); (3) broadcast them, check the CRCs;
// (4) FinishRestore: the staged variables to the device, the optimizer's
// iteration count. Pieces are read and broadcast in host memory: the
// trainer's own buffers where the host reads them in place, else the plan's
// staging HostSnapshot.
#include "worker/checkpoint/restore_on_all_ranks.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "storage/checkpoint/verify.h"
#include "storage/io/crc32c.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/comm/host_collectives.h"

namespace shardtrain::checkpoint {
namespace {

// Range cuts fall on multiples of this, so reads start on page boundaries.
constexpr uint64_t kCutAlignment = 4096;

// Bytes [begin, begin + bytes) of targets[target], read by rank `reader`.
struct Piece {
  size_t target = 0;
  uint64_t begin = 0;
  size_t bytes = 0;
  int reader = 0;
};

// Step 1's outcome.
struct Plan {
  SavedState state;
  HostSnapshot staging;  // empty where the targets are the trainer's buffers
  std::vector<RestoreTarget> targets;
  std::vector<Piece> pieces;
};

// The pieces of every target in data-file order, so in rank order.
StatusOr<std::vector<Piece>> SplitAmongRanks(const storage::BundleReader& reader,
                                             const std::vector<RestoreTarget>& targets,
                                             int world_size) {
  std::vector<std::tuple<int64_t, int64_t, size_t>> order;  // (shard, offset, target)
  for (size_t i = 0; i < targets.size(); ++i) {
    RETURN_IF_ERROR(reader.CheckInFile(targets[i].key));  // a short data file fails here
    ASSIGN_OR_RETURN(tf::BundleEntryProto entry, reader.Entry(targets[i].key));
    order.emplace_back(entry.shard_id(), entry.offset(), i);
  }
  std::sort(order.begin(), order.end());
  uint64_t total = 0;
  for (const RestoreTarget& t : targets) total += t.bytes;
  auto cut = [&](int rank) {  // where rank `rank`'s range starts
    const uint64_t share = total * static_cast<uint64_t>(rank) / static_cast<uint64_t>(world_size);
    return rank == world_size ? total : share / kCutAlignment * kCutAlignment;
  };
  std::vector<Piece> pieces;
  uint64_t start = 0;  // of the current target, end to end
  int rank = 0;
  for (const auto& [shard, offset, index] : order) {
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

StatusOr<Plan> PlanRestore(const storage::BundleReader& reader, const std::string& prefix,
                           Trainer& trainer, int world_size) {
  Plan plan;
  ASSIGN_OR_RETURN(plan.state,
                   RestoreCheckpoint(reader, prefix, trainer, RestoreScope::kStateOnly));
  ASSIGN_OR_RETURN(plan.targets, CheckedRestoreTargets(reader, prefix, trainer,
                                                       plan.state.weights_only, &plan.staging));
  std::set<std::string> variables;  // every other tensor is small: every rank checks it
  for (const RestoreTarget& t : plan.targets) variables.insert(t.key);
  RETURN_IF_ERROR(storage::VerifyTensors(reader, variables));
  ASSIGN_OR_RETURN(plan.pieces, SplitAmongRanks(reader, plan.targets, world_size));
  return plan;
}

// Step 2: reads this rank's pieces into their variables, setting their CRCs.
Status ReadOwnPieces(const storage::BundleReader& reader, const Plan& plan, int rank,
                     std::vector<int64_t>* crc) {
  for (size_t i = 0; i < plan.pieces.size(); ++i) {
    const Piece& p = plan.pieces[i];
    if (p.reader != rank) continue;
    const RestoreTarget& target = plan.targets[p.target];
    ASSIGN_OR_RETURN((*crc)[i], reader.ReadPiece(target.key, p.begin, p.bytes,
                                                 reinterpret_cast<char*>(target.data) + p.begin));
  }
  return OkStatus();
}

// Step 3. A piece's CRC is zero on the ranks that did not read it.
Status ShareAndVerify(const storage::BundleReader& reader, const Plan& plan,
                      comm::Communicator& comm, const std::string& prefix,
                      std::vector<int64_t>* crc) {
  for (const Piece& p : plan.pieces) {
    const RestoreTarget& target = plan.targets[p.target];
    RETURN_IF_ERROR(comm.Broadcast(reinterpret_cast<char*>(target.data) + p.begin,
                                   static_cast<int64_t>(p.bytes), p.reader)
                        .WithContext("broadcasting tensor '" + target.key + "' of " + prefix +
                                     " from rank " + std::to_string(p.reader)));
  }
  RETURN_IF_ERROR(comm.AllReduceSum(crc->data(), static_cast<int64_t>(crc->size()), DType::kInt64)
                      .WithContext("sharing the checksums of " + prefix));
  std::vector<uint32_t> whole(plan.targets.size(), 0);
  for (size_t i = 0; i < plan.pieces.size(); ++i) {
    uint32_t& c = whole[plan.pieces[i].target];
    c = storage::Crc32cCombine(c, static_cast<uint32_t>((*crc)[i]), plan.pieces[i].bytes);
  }
  for (size_t t = 0; t < plan.targets.size(); ++t) {
    RETURN_IF_ERROR(reader.CheckCrc(plan.targets[t].key, whole[t]));
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
  StatusOr<Plan> plan = reader.ok() ? PlanRestore(**reader, prefix, trainer, comm.world_size())
                                    : StatusOr<Plan>(reader.status());
  RETURN_IF_ERROR(comm::AgreeOnStatus(comm, plan.status(), "to restore " + prefix));
  std::vector<int64_t> crc(plan->pieces.size(), 0);
  RETURN_IF_ERROR(comm::AgreeOnStatus(comm, ReadOwnPieces(**reader, *plan, comm.rank(), &crc),
                                      "to read its part of " + prefix));
  RETURN_IF_ERROR(comm::AgreeOnStatus(comm, ShareAndVerify(**reader, *plan, comm, prefix, &crc),
                                      "to verify " + prefix));
  RETURN_IF_ERROR(comm::AgreeOnStatus(comm, FinishRestore(plan->state, plan->staging, trainer),
                                      "to restore " + prefix));
  return std::move(plan->state);
}

}  // namespace shardtrain::checkpoint
