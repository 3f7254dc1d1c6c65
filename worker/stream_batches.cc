#include "worker/stream_batches.h"

#include <numeric>
#include <string>
#include <utility>

namespace shardtrain {
namespace {

std::string AssignmentName(const coordinator::StreamAssignment& a, int rank) {
  return "rank " + std::to_string(rank) + "'s stream assignment of epoch " +
         std::to_string(a.epoch() + 1) + " (stage " + std::to_string(a.stage()) + ")";
}

std::vector<RecordRange> Ranges(const coordinator::StreamAssignment& a) {
  std::vector<RecordRange> ranges;
  for (const coordinator::RecordRange& r : a.ranges()) {
    ranges.push_back(RecordRange{r.file(), r.first_record(), r.num_records()});
  }
  return ranges;
}

// OK when `a` is consistent with itself, with `stages` and with `source`.
Status CheckAssignment(const StreamSource& source, const coordinator::StreamAssignment& a,
                       const std::vector<DataStage>& stages) {
  const std::string name = AssignmentName(a, source.rank);
  const int64_t world = a.rank_examples_size();
  if (source.rank < 0 || source.rank >= world) {
    return InvalidArgumentError(name + " has " + std::to_string(world) + " ranks' examples");
  }
  if (source.global_batch < world) {
    return InvalidArgumentError("training.batch_size " + std::to_string(source.global_batch) +
                                " is smaller than the " + std::to_string(world) + " ranks of " +
                                name);
  }
  int64_t records = 0;
  for (const coordinator::RecordRange& r : a.ranges()) records += r.num_records();
  const std::vector<int64_t> examples(a.rank_examples().begin(), a.rank_examples().end());
  for (int64_t e : examples) {
    if (e < 0) return InvalidArgumentError(name + " has a negative example count");
  }
  if (records != examples[static_cast<size_t>(source.rank)]) {
    return InvalidArgumentError(name + ": its ranges hold " + std::to_string(records) +
                                " records but rank_examples says " +
                                std::to_string(examples[static_cast<size_t>(source.rank)]));
  }
  if (a.stage() < 0 || static_cast<size_t>(a.stage()) > stages.size()) {
    return InvalidArgumentError(name + " follows " + std::to_string(stages.size()) + " stages");
  }
  const int64_t steps = StreamSteps(examples, source.global_batch);
  if (a.skip_steps() < 0 || a.skip_steps() > steps) {
    return InvalidArgumentError(name + " skips " + std::to_string(a.skip_steps()) + " of its " +
                                std::to_string(steps) + " steps");
  }
  return OkStatus();
}

}  // namespace

data::StreamOptions StreamBatches::StreamOptionsFor(
    const StreamSource& source, const coordinator::StreamAssignment& assignment) {
  const std::vector<int64_t> examples(assignment.rank_examples().begin(),
                                      assignment.rank_examples().end());
  data::StreamOptions options;
  options.seed = source.seed;
  options.shuffle_key = StreamShuffleKey(assignment.epoch(), assignment.stage(), source.rank);
  options.shuffle_buffer = source.shuffle_buffer;
  options.reader_threads = source.reader_threads;
  for (int64_t s = 0; s < assignment.skip_steps(); ++s) {
    options.skip += StreamStepRows(examples, source.global_batch, source.rank, s);
  }
  return options;
}

StatusOr<std::unique_ptr<StreamBatches>> StreamBatches::Open(
    const StreamSource& source, const coordinator::StreamAssignment& assignment,
    const std::vector<DataStage>& stages) {
  RETURN_IF_ERROR(CheckAssignment(source, assignment, stages));
  ASSIGN_OR_RETURN(std::unique_ptr<data::ExampleStream> stream,
                   data::ExampleStream::Open(*source.files, Ranges(assignment), *source.decoder,
                                             StreamOptionsFor(source, assignment)));
  return Assemble(source, assignment, stages, std::move(stream));
}

StatusOr<std::unique_ptr<StreamBatches>> StreamBatches::FromStream(
    const StreamSource& source, const coordinator::StreamAssignment& assignment,
    const std::vector<DataStage>& stages, std::unique_ptr<data::ExampleStream> stream) {
  RETURN_IF_ERROR(CheckAssignment(source, assignment, stages));
  return Assemble(source, assignment, stages, std::move(stream));
}

std::unique_ptr<StreamBatches> StreamBatches::Assemble(
    const StreamSource& source, const coordinator::StreamAssignment& assignment,
    const std::vector<DataStage>& stages, std::unique_ptr<data::ExampleStream> stream) {
  std::unique_ptr<StreamBatches> batches(new StreamBatches());
  batches->stream_ = std::move(stream);
  batches->rank_examples_.assign(assignment.rank_examples().begin(),
                                 assignment.rank_examples().end());
  batches->global_batch_ = source.global_batch;
  batches->rank_ = source.rank;
  batches->epoch_ = assignment.epoch();
  batches->skip_steps_ = assignment.skip_steps();
  batches->stream_steps_ = StreamSteps(batches->rank_examples_, source.global_batch);
  batches->cursor_.assign(stages.begin(), stages.begin() + assignment.stage());
  for (const DataStage& stage : batches->cursor_) batches->earlier_steps_ += stage.steps;
  batches->cursor_.push_back(DataStage{assignment.rank_examples_size(), assignment.skip_steps()});
  return batches;
}

StatusOr<StepRows> StreamBatches::Next(float* x, int32_t* class_ids, float* label_values) {
  if (taken_ >= steps()) {
    return OutOfRangeError("epoch " + std::to_string(epoch_ + 1) + " has no step after " +
                           std::to_string(first_step() + taken_));
  }
  const int64_t step = skip_steps_ + taken_;
  StepRows rows;
  const int world = static_cast<int>(rank_examples_.size());
  for (int q = 0; q < world; ++q) {
    const int64_t q_rows = StreamStepRows(rank_examples_, global_batch_, q, step);
    if (q < rank_) rows.first_row += q_rows;
    if (q == rank_) rows.rows = q_rows;
    rows.global_rows += q_rows;
  }
  if (rows.rows > 0) {
    ASSIGN_OR_RETURN(int64_t got, stream_->Next(rows.rows, x, class_ids, label_values));
    if (got < rows.rows) {
      return DataLossError(
          "rank " + std::to_string(rank_) + "'s stream of epoch " + std::to_string(epoch_ + 1) +
          " ended after " + std::to_string(stream_->delivered()) + " of its " +
          std::to_string(rank_examples_[static_cast<size_t>(rank_)]) + " examples");
    }
  }
  ++taken_;
  ++cursor_.back().steps;
  return rows;
}

StatusOr<std::unique_ptr<EpochBatches>> StreamPlanner::Plan(int64_t epoch, int64_t start_position,
                                                            const std::vector<DataStage>& stages) {
  const std::vector<DataStage> resumed =
      StagesToResume(stages, start_position, source_.global_batch);
  ASSIGN_OR_RETURN(coordinator::StreamAssignment assignment, assign_(epoch, resumed));
  if (assignment.epoch() != epoch) {
    return InvalidArgumentError("asked for the streams of epoch " + std::to_string(epoch + 1) +
                                ", got " + AssignmentName(assignment, source_.rank));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<StreamBatches> batches,
                   StreamBatches::Open(source_, assignment, resumed));
  return std::unique_ptr<EpochBatches>(std::move(batches));
}

Status StreamPlanner::CheckExamples(int64_t input_size, int64_t label_width) const {
  if (source_.epoch_examples == 0) {
    return InvalidArgumentError("the training split has no examples");
  }
  const data::ExampleDecoder& decoder = *source_.decoder;
  if (decoder.feature_size() != input_size) {
    return InvalidArgumentError(
        "the training examples have " + std::to_string(decoder.feature_size()) +
        " values each but model.input_shape has " + std::to_string(input_size));
  }
  if (decoder.label_width() != label_width) {
    return InvalidArgumentError(
        "the training examples have " + std::to_string(decoder.label_width()) +
        "-value targets but the job asks for " + std::to_string(label_width));
  }
  return OkStatus();
}

}  // namespace shardtrain
