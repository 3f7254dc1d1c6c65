// CallbackState: what stateful callbacks (EarlyStopping, ReduceLROnPlateau,
// and the checkpointer itself: the epoch logs its filepath names) keep across
// a resume. The trainer holds one; each callback reads its entries when it is
// created (restored from a checkpoint, or empty for a fresh run) and rewrites
// them after every epoch, before that epoch's checkpoint is written. Checkpoints save every entry as
// `_SHARDTRAIN_STATE/callbacks/<name>` (float64 scalars, float32 vectors) and
// a resume restores them (worker/checkpoint/checkpoint_contents.h). Names are
// "<callback>/<field>", e.g. "early_stopping/wait". Not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shardtrain::callbacks {

struct CallbackState {
  std::map<std::string, double> scalars;
  std::map<std::string, std::vector<float>> vectors;

  bool empty() const { return scalars.empty() && vectors.empty(); }
  // The scalar `name`, or nullopt when it was never saved.
  std::optional<double> Scalar(const std::string& name) const {
    auto found = scalars.find(name);
    if (found == scalars.end()) return std::nullopt;
    return found->second;
  }
};

}  // namespace shardtrain::callbacks
