// The arithmetic a streamed epoch's coordinator and ranks must agree on
// bit for bit (coordinator/stream_plan.h plans the streams; a rank's
// worker/data/example_stream.h reads one): the order in which a shuffle buffer
// emits its input, and how many rows each rank contributes to each step.
//
// ShuffleOrder replays a tf.data-style shuffle buffer of `capacity` slots over
// an input sequence of `input_size` examples (positions 0..input_size-1),
// with no data: it fills slots 0..capacity-1 with the first inputs in order,
// then each Next() draws a slot uniformly from the filled ones (a Philox draw
// keyed by (seed, stream) and the draw's index), emits it, and refills that
// slot with the next input, or, once the input is exhausted, moves the last
// filled slot into it and shrinks. A reader holding real examples applies the
// same Draw to its slots, so the emitted order is a pure function of
// (seed, stream, capacity, input_size) — which is what makes a resumed
// stream bitwise identical and lets the coordinator compute which examples an
// interrupted stream had not emitted. capacity 1 emits the input in order.
//
// Step rows: rank r's local batch is its SliceOfBatch share b_r of the
// global batch (the first global_batch % world_size ranks get one more row),
// and at step s it contributes min(b_r, max(0, examples_r - s * b_r)) rows:
// a rank whose stream ran out contributes zero rows, so the update stays the
// exact mean of the rows trained. The epoch has max_r ceil(examples_r / b_r)
// steps. Pure functions; ShuffleOrder is not thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <vector>

namespace shardtrain {

// Records [first_record, first_record + num_records) of training file `file`
// (an index into the job's file list): one shard, or a leftover piece of one.
struct RecordRange {
  int32_t file = 0;
  int64_t first_record = 0;
  int64_t num_records = 0;
  friend bool operator==(const RecordRange&, const RecordRange&) = default;
};

// One record of the training files.
struct RecordId {
  int32_t file = 0;
  int64_t record = 0;
  friend auto operator<=>(const RecordId&, const RecordId&) = default;
};

// One session of an interrupted epoch: `world_size` ranks took `steps` steps
// of the streams planned for them (coordinator/stream_plan.h). world_size 0:
// a checkpoint of the in-memory planner, whose first `steps` global batches
// of the epoch's example order were trained. A checkpoint's data cursor is the
// list of an epoch's stages.
struct DataStage {
  int32_t world_size = 0;
  int64_t steps = 0;
  friend bool operator==(const DataStage&, const DataStage&) = default;
};

class ShuffleOrder {
 public:
  // What one Next() does to the slots.
  struct Draw {
    int64_t slot = -1;      // the slot emitted; -1: the stream has ended
    int64_t position = -1;  // the input position it held
    // After emitting: the slot holds input `refill` (>= 0), or, when the
    // input is exhausted (refill -1), slot `moved_from` was moved into it
    // (moved_from == slot when it was the last filled slot: nothing moves).
    int64_t refill = -1;
    int64_t moved_from = -1;
  };

  ShuffleOrder(uint64_t seed, uint64_t stream, int64_t capacity, int64_t input_size);

  Draw Next();

  // The input positions in slots [0, filled()), after the draws so far.
  const std::vector<int64_t>& slots() const { return slots_; }
  int64_t filled() const { return static_cast<int64_t>(slots_.size()); }
  // The next input position to enter the buffer (input_size when all have).
  int64_t next_input() const { return next_input_; }
  int64_t emitted() const { return emitted_; }

 private:
  uint64_t seed_;
  uint64_t stream_;
  int64_t input_size_;
  int64_t next_input_ = 0;
  int64_t emitted_ = 0;
  std::vector<int64_t> slots_;
};

// The shuffle stream key of rank `rank`'s stream in stage `stage` of `epoch`.
uint64_t StreamShuffleKey(int64_t epoch, int64_t stage, int rank);

// Rows of the global batch that `rank` contributes per full step (SliceOfBatch).
int64_t LocalBatchRows(int64_t global_batch, int rank, int world_size);
// Rows `rank` contributes to `step` (0-based) when rank q's stream holds
// rank_examples[q] examples; world size = rank_examples.size().
int64_t StreamStepRows(const std::vector<int64_t>& rank_examples, int64_t global_batch, int rank,
                       int64_t step);
// Steps of an epoch whose ranks' streams hold rank_examples[q] examples.
int64_t StreamSteps(const std::vector<int64_t>& rank_examples, int64_t global_batch);

}  // namespace shardtrain
