// Rank 0 reads, the others receive (contract in restore_on_all_ranks.h).
#include "worker/checkpoint/restore_on_all_ranks.h"

#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::checkpoint {
namespace {

StatusOr<SavedState> ReadLocally(storage::FileSystem* fs, const std::string& prefix,
                                 Trainer& trainer, RestoreScope scope) {
  ASSIGN_OR_RETURN(auto reader, storage::BundleReader::Open(fs, prefix));
  return RestoreCheckpoint(*reader, prefix, trainer, scope);
}

}  // namespace

StatusOr<SavedState> RestoreOnAllRanks(storage::FileSystem* fs, const std::string& prefix,
                                       Trainer& trainer, comm::Communicator& comm) {
  if (comm.world_size() == 1) return ReadLocally(fs, prefix, trainer, RestoreScope::kEverything);
  const RestoreScope scope =
      comm.rank() == 0 ? RestoreScope::kEverything : RestoreScope::kStateOnly;
  StatusOr<SavedState> state = ReadLocally(fs, prefix, trainer, scope);

  // Agree on success before anyone waits in a broadcast.
  double failures[2] = {state.ok() ? 0.0 : 1.0, comm.rank() == 0 && !state.ok() ? 1.0 : 0.0};
  RETURN_IF_ERROR(comm.AllReduceSumHostScalars(failures, 2)
                      .WithContext("agreeing on the restore of " + prefix));
  if (!state.ok()) return state.status();
  if (failures[1] > 0) {
    return FailedPreconditionError("rank 0 could not restore " + prefix +
                                   " (its error is in rank 0's output)");
  }
  if (failures[0] > 0) {
    return FailedPreconditionError("another rank could not restore " + prefix +
                                   " (its error is in that rank's output)");
  }

  RETURN_IF_ERROR(trainer.BroadcastParameters());
  if (!state->weights_only) {
    optimizer::Optimizer& opt = trainer.optimizer();
    for (size_t i = 0; i < opt.slot_names().size(); ++i) {
      std::vector<float>& slot = opt.slot(i);
      RETURN_IF_ERROR(comm.Broadcast(slot.data(),
                                     static_cast<int64_t>(slot.size() * sizeof(float)), 0)
                          .WithContext("broadcasting optimizer slot '" + opt.slot_names()[i] +
                                       "' of " + prefix));
    }
  }
  return state;
}

}  // namespace shardtrain::checkpoint
