// OwnedSlice (which elements of a sliced reduction each rank owns; pure) and
// the SliceReduction interface's out-of-line destructor.
#include "worker/comm/slice_reduction.h"

#include <algorithm>

namespace shardtrain::comm {
namespace {

// Slice boundaries fall on multiples of this many bytes from the start of the
// reduced range, so two ranks rarely store into one cache line.
constexpr int64_t kSliceAlignBytes = 64;

}  // namespace

Slice OwnedSlice(int64_t count, int64_t element_bytes, int rank, int size) {
  const int64_t unit = std::max<int64_t>(1, kSliceAlignBytes / std::max<int64_t>(1, element_bytes));
  const int64_t units = (count + unit - 1) / unit;
  return Slice{std::min(count, units * rank / size * unit),
               std::min(count, units * (rank + 1) / size * unit)};
}

SliceReduction::~SliceReduction() = default;

}  // namespace shardtrain::comm
