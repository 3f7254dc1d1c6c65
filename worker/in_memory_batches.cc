#include "worker/in_memory_batches.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace shardtrain {

void GatherRows(const data::Dataset& dataset, const int64_t* indices, int64_t rows, float* x,
                int32_t* class_ids, float* label_values) {
  const size_t features = static_cast<size_t>(dataset.feature_size);
  const size_t width = static_cast<size_t>(dataset.label_width);
  const bool ids = width == 0 && !dataset.labels.empty();
  const bool vectors = width > 0 && !dataset.label_values.empty();
  for (int64_t r = 0; r < rows; ++r) {
    const size_t row = static_cast<size_t>(r), example = static_cast<size_t>(indices[r]);
    std::memcpy(x + row * features, dataset.features.data() + example * features,
                features * sizeof(float));
    if (ids) class_ids[row] = dataset.labels[example];
    if (vectors) {
      std::memcpy(label_values + row * width, dataset.label_values.data() + example * width,
                  width * sizeof(float));
    }
  }
}

Status CheckDataset(const data::Dataset& dataset, const char* split, int64_t input_size,
                    int64_t label_width, bool labeled) {
  const std::string the = std::string("the ") + split + " ";
  if (dataset.num_examples == 0) return InvalidArgumentError(the + "split has no examples");
  if (dataset.feature_size != input_size ||
      dataset.features.size() != static_cast<size_t>(dataset.num_examples * dataset.feature_size)) {
    return InvalidArgumentError(the + "examples have " + std::to_string(dataset.feature_size) +
                                " values each but model.input_shape has " +
                                std::to_string(input_size));
  }
  if (!labeled) return OkStatus();
  const int64_t width = dataset.label_width;
  const size_t targets = width == 0 ? dataset.labels.size() : dataset.label_values.size();
  if (width != label_width ||
      targets != static_cast<size_t>(dataset.num_examples * std::max<int64_t>(width, 1))) {
    return InvalidArgumentError(
        the + "examples have " +
        (width == 0 ? "class ids" : std::to_string(width) + "-value target vectors") + " (" +
        std::to_string(targets) + " values for " + std::to_string(dataset.num_examples) +
        " examples), but data.label asks for " +
        (label_width == 0 ? "class ids" : std::to_string(label_width) + "-value vectors"));
  }
  return OkStatus();
}

InMemoryBatches::InMemoryBatches(const data::Dataset* dataset, EpochPlan plan, int64_t global_batch)
    : dataset_(dataset), plan_(std::move(plan)), global_batch_(global_batch) {}

int64_t InMemoryBatches::steps_in_epoch() const {
  return (dataset_->num_examples + global_batch_ - 1) / global_batch_;
}

StatusOr<StepRows> InMemoryBatches::Next(float* x, int32_t* class_ids, float* label_values) {
  if (step_ >= steps()) {
    return OutOfRangeError("epoch " + std::to_string(plan_.epoch + 1) + " has no step after " +
                           std::to_string(plan_.first_step + step_));
  }
  const size_t s = static_cast<size_t>(step_);
  const int64_t step_in_epoch = plan_.first_step + step_;
  StepRows rows{plan_.step_counts[s], plan_.step_offsets[s],
                std::min(global_batch_, dataset_->num_examples - step_in_epoch * global_batch_)};
  if (rows.rows > 0) {
    GatherRows(*dataset_, plan_.example_ids.data() + next_row_, rows.rows, x, class_ids,
               label_values);
  }
  next_row_ += rows.rows;
  ++step_;
  return rows;
}

StatusOr<std::unique_ptr<EpochBatches>> InMemoryPlanner::Plan(
    int64_t epoch, int64_t start_position, const std::vector<DataStage>& /*stages*/) {
  ASSIGN_OR_RETURN(EpochPlan plan, PlanExamples(epoch, start_position));
  return std::unique_ptr<EpochBatches>(
      std::make_unique<InMemoryBatches>(train_, std::move(plan), global_batch_));
}

Status InMemoryPlanner::CheckExamples(int64_t input_size, int64_t label_width) const {
  return CheckDataset(*train_, "training", input_size, label_width);
}

}  // namespace shardtrain
