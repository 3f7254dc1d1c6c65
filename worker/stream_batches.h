// Training batches streamed from the record ranges the coordinator assigned
// this rank (data.in_memory false; STREAM.md). StreamBatches serves one
// StreamAssignment (proto/coordinator.proto): its rank reads its ranges
// through an ExampleStream (worker/data/example_stream.h) with shuffle key
// StreamShuffleKey(epoch, stage, rank), and step s (of the assignment's
// streams) takes
//   rows        = StreamStepRows(rank_examples, global_batch, rank, s),
//   first_row   = the lower ranks' rows at s,
//   global_rows = all ranks' rows at s,
// for s from skip_steps to StreamSteps(rank_examples, global_batch) - 1; the
// stream starts with skip = this rank's rows of steps 0..skip_steps-1. Its
// cursor is the stages it was planned after, up to the assignment's stage,
// then {world_size, skip_steps + steps taken}: a checkpoint's data cursor.
// The epoch's steps count the earlier stages' steps first.
//
// StreamPlanner is the EpochPlanner of a streamed job: it asks `assign` (the
// coordinator client) for each epoch's assignment after the checkpoint's
// cursor (StagesToResume: a cursorless mid-epoch checkpoint resumes the
// in-memory order's first steps) and opens its StreamBatches.
// Errors: InvalidArgument for an assignment inconsistent with itself, the
// stages or the source; DataLoss when the stream ends before a step's rows;
// the stream's own errors. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "common/stream_order.h"
#include "proto/coordinator.pb.h"
#include "worker/data/example_decoder.h"
#include "worker/data/example_stream.h"
#include "worker/epoch_plan.h"

namespace shardtrain {

// What a rank streams its training data from; the same every epoch.
struct StreamSource {
  const data::StreamFiles* files = nullptr;       // the job's files (JobPlan.files)
  const data::ExampleDecoder* decoder = nullptr;  // the job's feature spec
  uint64_t seed = 0;                              // training.seed
  int64_t shuffle_buffer = 1;                     // JobPlan.shuffle_buffer (resolved)
  int reader_threads = 2;                         // data.reader_threads (resolved)
  int rank = 0;
  int64_t global_batch = 0;    // training.batch_size
  int64_t epoch_examples = 0;  // records trained per epoch, all ranks
};

class StreamBatches : public EpochBatches {
 public:
  // Checks `assignment` (of the epoch planned after `stages`) and opens this
  // rank's stream of it. `source`'s files and decoder need only outlive Open.
  static StatusOr<std::unique_ptr<StreamBatches>> Open(
      const StreamSource& source, const coordinator::StreamAssignment& assignment,
      const std::vector<DataStage>& stages);
  // The same over an already opened `stream` (tests), which must deliver
  // what ExampleStream::Open(..., StreamOptionsFor(source, assignment)) would.
  static StatusOr<std::unique_ptr<StreamBatches>> FromStream(
      const StreamSource& source, const coordinator::StreamAssignment& assignment,
      const std::vector<DataStage>& stages, std::unique_ptr<data::ExampleStream> stream);
  // The stream options of this rank's stream of `assignment` (skip included).
  static data::StreamOptions StreamOptionsFor(const StreamSource& source,
                                              const coordinator::StreamAssignment& assignment);

  int64_t steps_in_epoch() const override { return earlier_steps_ + stream_steps_; }
  int64_t first_step() const override { return earlier_steps_ + skip_steps_; }
  int64_t steps() const override { return stream_steps_ - skip_steps_; }
  StatusOr<StepRows> Next(float* x, int32_t* class_ids, float* label_values) override;
  const std::vector<DataStage>& cursor() const override { return cursor_; }

 private:
  StreamBatches() = default;
  // The batches of a checked assignment over its opened stream.
  static std::unique_ptr<StreamBatches> Assemble(const StreamSource& source,
                                                 const coordinator::StreamAssignment& assignment,
                                                 const std::vector<DataStage>& stages,
                                                 std::unique_ptr<data::ExampleStream> stream);

  std::unique_ptr<data::ExampleStream> stream_;
  std::vector<int64_t> rank_examples_;
  int64_t global_batch_ = 0;
  int rank_ = 0;
  int64_t epoch_ = 0;
  int64_t earlier_steps_ = 0;  // the steps of the stages before the assignment's
  int64_t skip_steps_ = 0;
  int64_t stream_steps_ = 0;  // StreamSteps(rank_examples_, global_batch_)
  int64_t taken_ = 0;         // Next() calls that succeeded
  std::vector<DataStage> cursor_;
};

// This rank's assignment of `epoch` after `stages` (the coordinator client's
// GetStreamAssignment for this rank).
using StreamAssigner = std::function<StatusOr<coordinator::StreamAssignment>(
    int64_t epoch, const std::vector<DataStage>& stages)>;

class StreamPlanner : public EpochPlanner {
 public:
  StreamPlanner(StreamSource source, StreamAssigner assign)
      : source_(source), assign_(std::move(assign)) {}

  StatusOr<std::unique_ptr<EpochBatches>> Plan(int64_t epoch, int64_t start_position,
                                               const std::vector<DataStage>& stages) override;
  int64_t epoch_examples() const override { return source_.epoch_examples; }
  // Compares the decoder's example and target sizes.
  Status CheckExamples(int64_t input_size, int64_t label_width) const override;

 private:
  StreamSource source_;
  StreamAssigner assign_;
};

}  // namespace shardtrain
