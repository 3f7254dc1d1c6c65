// What a shardtrain checkpoint holds, as bundle tensors (DESIGN.md §4):
//   * the model's weights and the optimizer's variables under the keys and
//     object graph tf.keras writes (storage/checkpoint/keras_object_graph.h),
//     so TensorFlow tools and tf-keras `model.load_weights(prefix)` read them
//     (optimizer slots only for trainable variables, as tf.keras: a frozen
//     layer's weights and a BatchNormalization's moving statistics are saved,
//     their slots do not exist; a functional model's layer-i numbering starts
//     with its InputLayer, a Sequential's with its first layer);
//   * our training state under `_SHARDTRAIN_STATE/...` keys, outside the object
//     graph (TensorFlow ignores them): epoch, data position, global step, the
//     epoch's running metric sums, the streamed data cursor
//     (`_SHARDTRAIN_STATE/data_stages`, int64 [n, 2] rows of (world_size,
//     steps), only when non-empty; absent restores as empty), the seed, the
//     best monitored value, and the job config's hash and text; and the
//     stateful callbacks' state
//     (EarlyStopping, ReduceLROnPlateau: callbacks/callback_state.h) under
//     `_SHARDTRAIN_STATE/callbacks/<name>`, float64 scalars and float32
//     vectors, present only when such callbacks run.
// Device memory (issue 21): where the trainer's backend lets the host read
// its memory (the CPU backend), gathering borrows the trainer's buffers (valid
// until the next step) and a restore reads into them in place, with no copies.
// Elsewhere (CUDA, the strict device) the host never touches device memory:
// a save copies the variables to a HostSnapshot when it starts and its
// tensors point there; a restore reads into a HostSnapshot as staging and
// FinishRestore copies it to the device once every read and check passed.
// The files written are the same bytes on every backend. Restoring checks
// every key's dtype and shape. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "kernels/device_buffer.h"
#include "proto/config.pb.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/callbacks/callback_state.h"
#include "worker/checkpoint/host_snapshot.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {

inline constexpr char kStatePrefix[] = "_SHARDTRAIN_STATE/";

// One tensor to save. `data` points at `bytes` bytes of host memory
// (borrowed from the trainer, into `owned`, or into the HostSnapshot that
// `snapshot` keeps alive); DT_STRING tensors use `strings` instead.
struct SaveTensor {
  std::string key;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
  std::vector<std::string> strings;
  std::string owned;
  std::shared_ptr<const void> snapshot;
};

// Training-loop state saved beside the variables.
struct SavedState {
  TrainingProgress progress;
  double best_value = 0;   // best monitored value so far (save_best_only)
  bool has_best = false;
  std::string config_hash;
  bool weights_only = false;
  // Restored from the checkpoint (saving takes the trainer's callback_state()).
  callbacks::CallbackState callbacks;
  // The optimizer's saved iteration count (0 for weights_only); restored into
  // the trainer by FinishRestore (saving takes the optimizer's).
  int64_t iterations = 0;
};

// The parts of the config that decide the training trajectory (model,
// optimizer, loss, metrics, data selection, in_memory, shuffle_buffer,
// shard_records and validation_split, batch size, seed, shuffle, class_weight,
// ReduceLROnPlateau, which changes the rate) — not reader_threads, epochs,
// initial_epoch, paths, device, checkpoint policy, EarlyStopping (it decides
// only when to stop, like epochs; its counters carry over) or TerminateOnNaN,
// which a resumed run may change.
config::JobConfig TrajectoryConfig(const config::JobConfig& config);

// Hash of TrajectoryConfig(config): a checkpoint stores it, and a resume
// compares it with the current config's.
std::string TrajectoryConfigHash(const config::JobConfig& config);

// Every tensor of a checkpoint of `trainer`, in object-graph order, then the
// state keys (the callback state from trainer.callback_state(), borrowed).
// With `state.weights_only` the optimizer is left out. Where the host cannot
// read the trainer's memory the variables are first copied into `snapshot`
// (a new one when null; a caller that saves often passes the same one), which
// the tensors keep alive; the trainer may step again once this returns.
StatusOr<std::vector<SaveTensor>> GatherCheckpointTensors(
    Trainer& trainer, const config::JobConfig& config, const SavedState& state,
    std::shared_ptr<HostSnapshot> snapshot = nullptr);

// Where a restore puts one model or optimizer variable of a checkpoint.
struct RestoreTarget {
  std::string key;
  // Host memory: into the trainer's parameters or an optimizer slot, or into
  // the staging HostSnapshot where the host cannot read the trainer's memory.
  float* data = nullptr;
  size_t bytes = 0;
};

// The weights, and unless `weights_only` the optimizer's slot variables, that
// a restore fills, in object-graph order, each checked against the
// checkpoint's index: NotFound for a missing key, FailedPrecondition naming
// the key and both dtypes/shapes when the model differs. Reads no tensor
// data. After the checks, where the host cannot read the trainer's memory,
// `staging` takes a snapshot of the parameters and (unless `weights_only`)
// the slots, so that what the checkpoint does not hold keeps its value, and
// the targets point into it.
StatusOr<std::vector<RestoreTarget>> CheckedRestoreTargets(const storage::BundleReader& reader,
                                                           const std::string& prefix,
                                                           Trainer& trainer, bool weights_only,
                                                           HostSnapshot* staging);

// The last step of a restore whose reads and checks all passed: copies what
// `staging` holds back to the device (ParameterStore::CopyParamsFromHost,
// Optimizer::CopySlotFromHost; nothing when it holds nothing), then sets the
// optimizer's iteration count from `state` and, for a weights-only
// checkpoint, zeroes its slots. A failed copy is returned naming what was
// being copied, with "the device state is partly restored".
Status FinishRestore(const SavedState& state, const HostSnapshot& staging, Trainer& trainer);

// What RestoreCheckpoint reads: everything, or only the training state and
// the optimizer's iteration count (the small tensors, changing nothing in
// the trainer), for a restore that reads the variables (CheckedRestoreTargets)
// itself, split among ranks (restore_on_all_ranks.h), and then calls
// FinishRestore.
enum class RestoreScope { kEverything, kStateOnly };

// Restores the weights (and the optimizer's variables when the checkpoint has
// them) into `trainer` and returns the saved state. Errors name the key and
// the checkpoint: a missing key, or a dtype/shape that differs from the model.
// On a host-readable backend a failed read leaves the variables partly
// overwritten; elsewhere a failed read or check leaves the trainer unchanged
// (see FinishRestore for a failed copy).
StatusOr<SavedState> RestoreCheckpoint(const storage::BundleReader& reader,
                                       const std::string& prefix, Trainer& trainer,
                                       RestoreScope scope = RestoreScope::kEverything);

// Deterministic size-balanced assignment of tensors to ranks: largest first
// (ties: earlier index), each to the least-loaded rank (ties: lower rank).
// When there are at least as many tensors as ranks, every rank gets one.
std::vector<int> AssignTensorsToRanks(const std::vector<size_t>& bytes, int world_size);

}  // namespace shardtrain::checkpoint
