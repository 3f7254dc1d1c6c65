#include "common/stream_order.h"

#include <algorithm>

#include "common/philox.h"

namespace shardtrain {
namespace {

// Philox stream of the shuffle draws, XORed with the key's low 32 bits
// (stage and rank); the key's high 32 bits (the epoch) are the Philox step.
constexpr uint32_t kShuffleStream = 0x53485546u;  // "SHUF"

}  // namespace

ShuffleOrder::ShuffleOrder(uint64_t seed, uint64_t stream, int64_t capacity, int64_t input_size)
    : seed_(seed), stream_(stream), input_size_(std::max<int64_t>(input_size, 0)) {
  const int64_t first = std::min(std::max<int64_t>(capacity, 1), input_size_);
  slots_.reserve(static_cast<size_t>(first));
  for (int64_t i = 0; i < first; ++i) slots_.push_back(i);
  next_input_ = first;
}

ShuffleOrder::Draw ShuffleOrder::Next() {
  Draw draw;
  const int64_t filled = this->filled();
  if (filled == 0) return draw;
  const uint32_t bits =
      PhiloxBits(seed_, stream_ >> 32, kShuffleStream ^ static_cast<uint32_t>(stream_),
                 static_cast<uint64_t>(emitted_));
  // Lemire's multiply-shift maps 32 bits onto [0, filled).
  draw.slot =
      static_cast<int64_t>((static_cast<uint64_t>(bits) * static_cast<uint64_t>(filled)) >> 32);
  int64_t& slot = slots_[static_cast<size_t>(draw.slot)];
  draw.position = slot;
  if (next_input_ < input_size_) {
    draw.refill = next_input_++;
    slot = draw.refill;
  } else {
    draw.moved_from = filled - 1;
    slot = slots_.back();
    slots_.pop_back();
  }
  ++emitted_;
  return draw;
}

uint64_t StreamShuffleKey(int64_t epoch, int64_t stage, int rank) {
  return (static_cast<uint64_t>(epoch) << 32) | (static_cast<uint64_t>(stage) << 20) |
         static_cast<uint64_t>(static_cast<uint32_t>(rank) & 0xFFFFFu);
}

int64_t LocalBatchRows(int64_t global_batch, int rank, int world_size) {
  if (world_size <= 0) return 0;
  return global_batch / world_size + (rank < global_batch % world_size ? 1 : 0);
}

int64_t StreamStepRows(const std::vector<int64_t>& rank_examples, int64_t global_batch, int rank,
                       int64_t step) {
  const int world = static_cast<int>(rank_examples.size());
  if (rank < 0 || rank >= world) return 0;
  const int64_t batch = LocalBatchRows(global_batch, rank, world);
  const int64_t left = rank_examples[static_cast<size_t>(rank)] - step * batch;
  return std::clamp<int64_t>(left, 0, batch);
}

int64_t StreamSteps(const std::vector<int64_t>& rank_examples, int64_t global_batch) {
  const int world = static_cast<int>(rank_examples.size());
  int64_t steps = 0;
  for (int r = 0; r < world; ++r) {
    const int64_t batch = LocalBatchRows(global_batch, r, world);
    if (batch <= 0) continue;
    const int64_t examples = rank_examples[static_cast<size_t>(r)];
    steps = std::max(steps, (examples + batch - 1) / batch);
  }
  return steps;
}

}  // namespace shardtrain
