// Monitoring an epoch log the way Keras's MonitorCallback does (EarlyStopping,
// ReduceLROnPlateau): which direction improves (mode), and whether a value
// improves on a reference by more than min_delta. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "proto/config.pb.h"
#include "worker/callbacks/callback.h"

namespace shardtrain::callbacks {

// Resolves `mode` ("min", "max", or "auto"/empty) for `monitor` to "min" or
// "max". Auto, as Keras: min for losses and errors (loss, *_loss, *error,
// mae, mse), max for accuracy-like metrics (*accuracy, *acc, auc, precision,
// recall). InvalidArgument naming `field` (e.g. "callbacks.early_stopping")
// for another mode, or an auto mode it cannot tell.
StatusOr<std::string> ResolveMonitorMode(const std::string& field, const std::string& monitor,
                                         const std::string& mode);

// Keras's MonitorCallback._is_improvement for a resolved mode: `value` improves
// on `reference` when value - min_delta < reference (min, min_delta made
// negative: value + |min_delta| < reference) or value - |min_delta| >
// reference (max); anything improves on no reference.
class MonitorComparison {
 public:
  MonitorComparison(const std::string& resolved_mode, double min_delta);
  bool IsImprovement(double value, std::optional<double> reference) const;

 private:
  bool minimize_;
  double min_delta_;  // signed as Keras makes it: negative when minimizing
};

// The value `monitor` has in `epoch`'s logs; InvalidArgument naming `field`
// and the logged names when the epoch has none.
StatusOr<double> MonitoredValue(const EpochEnd& epoch, const std::string& field,
                                const std::string& monitor);

}  // namespace shardtrain::callbacks
