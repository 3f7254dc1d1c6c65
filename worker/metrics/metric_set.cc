#include "worker/metrics/metric_set.h"

#include <algorithm>

#include "worker/data/job_data.h"
#include "worker/loss/loss.h"

namespace shardtrain::metrics {
namespace {

// Keras's default k of sparse_top_k_categorical_accuracy.
constexpr int64_t kDefaultTopK = 5;

StatusOr<OutputSpec> OutputOf(const config::JobConfig& config, int64_t output_units) {
  if (config.top_k() < 0) {
    return InvalidArgumentError(
        "top_k must be positive (the k of "
        "sparse_top_k_categorical_accuracy; 0 means 5), got " +
        std::to_string(config.top_k()));
  }
  const bool vectors = loss::HasVectorLabels(config.data());
  const bool softmax = config.loss().has_categorical_crossentropy();
  OutputSpec output;
  output.units = output_units;
  output.is_logit =
      (output_units == 1 || vectors) && !softmax && loss::LossTakesLogits(config.loss());
  output.top_k = config.top_k() > 0 ? config.top_k() : kDefaultTopK;
  output.label_width = vectors ? output_units : 0;
  output.softmax_logits = vectors && softmax;
  return output;
}

}  // namespace

StatusOr<MetricSet> MetricSet::Create(kernels::KernelBackend& backend,
                                      const config::JobConfig& config, int64_t output_units,
                                      int64_t max_batch) {
  ASSIGN_OR_RETURN(MetricSet set, Build(config, output_units));
  // A batch's outputs, then its targets (class ids, or vectors as wide).
  const int64_t output_bytes = max_batch * output_units * static_cast<int64_t>(sizeof(float));
  const int64_t target_bytes =
      max_batch * std::max<int64_t>(output_units, 1) * loss::kTargetValueBytes;
  ASSIGN_OR_RETURN(
      set.reads_,
      loss::HostReads::Create(backend, loss::HostReads::CapacityFor({output_bytes, target_bytes}),
                              "metric inputs"));
  return set;
}

StatusOr<MetricSet> MetricSet::Build(const config::JobConfig& config, int64_t output_units) {
  ASSIGN_OR_RETURN(const OutputSpec output, OutputOf(config, output_units));
  MetricSet set;
  set.output_ = output;
  const std::vector<std::string> names = MetricNames(config);
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i), names[i]) !=
        names.begin() + static_cast<std::ptrdiff_t>(i)) {
      return InvalidArgumentError("metrics: '" + names[i] + "' is listed twice");
    }
    ASSIGN_OR_RETURN(std::unique_ptr<Metric> metric, CreateMetric(names[i], output));
    set.offsets_.push_back(set.num_sums_);
    set.num_sums_ += metric->num_sums();
    set.metrics_.push_back(std::move(metric));
  }
  return set;
}

Status MetricSet::ReadOnHost(kernels::KernelBackend& backend, const float** outputs,
                             loss::Targets* targets, int64_t rows) {
  *outputs = reads_.Read(backend, *outputs, rows * output_.units);
  if (targets->is_class_ids()) {
    targets->class_ids = reads_.Read(backend, targets->class_ids, rows);
  } else {
    targets->values = reads_.Read(backend, targets->values, rows * targets->width);
  }
  return reads_.Wait(backend);
}

Status MetricSet::Accumulate(kernels::KernelBackend& backend, const float* outputs,
                             const loss::Targets& targets, int64_t rows, double* sums) {
  if (num_sums_ == 0) return OkStatus();  // accuracy alone: CorrectCount
  loss::Targets host_targets = targets;
  RETURN_IF_ERROR(ReadOnHost(backend, &outputs, &host_targets, rows));
  for (size_t i = 0; i < metrics_.size(); ++i) {
    metrics_[i]->Accumulate(outputs, host_targets, rows, sums + offsets_[i]);
  }
  return OkStatus();
}

StatusOr<int64_t> MetricSet::CorrectCount(kernels::KernelBackend& backend, const float* outputs,
                                          const loss::Targets& targets, int64_t rows) {
  if (targets.is_class_ids() && output_.units > 1) {
    const int64_t correct =
        backend.SparseAccuracyCount(outputs, targets.class_ids, rows, output_.units);
    RETURN_IF_ERROR(backend.CheckErrors());
    return correct;
  }
  loss::Targets host_targets = targets;
  RETURN_IF_ERROR(ReadOnHost(backend, &outputs, &host_targets, rows));
  if (!host_targets.is_class_ids()) {
    return VectorCorrectCount(outputs, host_targets, rows, output_.is_logit);
  }
  return BinaryCorrectCount(outputs, host_targets.class_ids, rows, output_.is_logit);
}

void MetricSet::AppendLogs(const double* sums, const Totals& totals, const std::string& prefix,
                           Logs* logs) const {
  for (size_t i = 0; i < metrics_.size(); ++i) {
    logs->emplace_back(prefix + metrics_[i]->name(),
                       metrics_[i]->Result(sums + offsets_[i], totals));
  }
}

std::vector<std::string> MetricNames(const config::JobConfig& config) {
  if (config.metrics().empty()) {
    // Accuracy has no meaning for regression targets: Keras logs the loss alone.
    const bool regression =
        loss::HasVectorLabels(config.data()) && config.loss().has_mean_squared_error();
    if (regression) return {};
    return {"accuracy"};
  }
  return {config.metrics().begin(), config.metrics().end()};
}

std::vector<std::string> LogNames(const config::JobConfig& config) {
  std::vector<std::string> names = {"loss"};
  for (const std::string& metric : MetricNames(config)) names.push_back(metric);
  if (!data::HasValidationData(config)) return names;
  const size_t train_names = names.size();
  for (size_t i = 0; i < train_names; ++i) names.push_back("val_" + names[i]);
  return names;
}

Status ValidateMetrics(const config::JobConfig& config) {
  // The model's output width for the loss (Trainer::Create checks the model's).
  const int64_t units = loss::OutputUnits(config.loss(), config.data());
  return MetricSet::Build(config, units).status();
}

}  // namespace shardtrain::metrics
