// Targets: what a batch's model outputs should be, in one of the two label
// kinds the data pipeline yields (config::LabelSpec): integer class ids, or a
// float vector per example (one-hot, soft or multi-label targets, regression
// values). The loss and the metrics read a batch's targets through this view;
// it owns nothing.
#pragma once

#include <cstdint>

namespace shardtrain::loss {

// Bytes of one target value, a class id or a float alike.
inline constexpr int64_t kTargetValueBytes = sizeof(float);
static_assert(sizeof(int32_t) == sizeof(float));

struct Targets {
  const int32_t* class_ids = nullptr;  // (rows) when width == 0
  const float* values = nullptr;       // (rows, width) when width > 0
  int64_t width = 0;                   // values per example; 0 = class ids

  bool is_class_ids() const { return width == 0; }
  static Targets ClassIds(const int32_t* ids) { return Targets{ids, nullptr, 0}; }
  static Targets Vectors(const float* values, int64_t width) {
    return Targets{nullptr, values, width};
  }
};

}  // namespace shardtrain::loss
