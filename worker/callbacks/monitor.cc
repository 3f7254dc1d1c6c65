#include "worker/callbacks/monitor.h"

#include <cmath>

namespace shardtrain::callbacks {
namespace {

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string WithoutValPrefix(const std::string& name) {
  return name.rfind("val_", 0) == 0 ? name.substr(4) : name;
}

}  // namespace

StatusOr<std::string> ResolveMonitorMode(const std::string& field, const std::string& monitor,
                                         const std::string& mode) {
  if (mode == "min" || mode == "max") return mode;
  if (!mode.empty() && mode != "auto") {
    return InvalidArgumentError(field + ".mode must be min, max or auto, got '" + mode + "'");
  }
  const std::string base = WithoutValPrefix(monitor);
  if (base == "loss" || EndsWith(base, "_loss") || EndsWith(base, "error") || base == "mae" ||
      base == "mse") {
    return std::string("min");
  }
  if (EndsWith(base, "accuracy") || EndsWith(base, "acc") || base == "auc" ||
      base == "precision" || base == "recall") {
    return std::string("max");
  }
  return InvalidArgumentError(field + ": cannot tell whether monitor '" + monitor +
                              "' should be minimized or maximized; set " + field +
                              ".mode to min or max");
}

MonitorComparison::MonitorComparison(const std::string& resolved_mode, double min_delta)
    : minimize_(resolved_mode == "min"),
      min_delta_(minimize_ ? -std::fabs(min_delta) : std::fabs(min_delta)) {}

bool MonitorComparison::IsImprovement(double value, std::optional<double> reference) const {
  if (!reference) return true;
  return minimize_ ? value - min_delta_ < *reference : value - min_delta_ > *reference;
}

StatusOr<double> MonitoredValue(const EpochEnd& epoch, const std::string& field,
                                const std::string& monitor) {
  if (std::optional<double> value = epoch.Log(monitor)) return *value;
  std::string names;
  for (const auto& [name, value] : epoch.logs) names += (names.empty() ? "" : ", ") + name;
  return InvalidArgumentError(field + ".monitor '" + monitor + "' is not among epoch " +
                              std::to_string(epoch.epoch) + "'s logs (" + names + ")");
}

}  // namespace shardtrain::callbacks
