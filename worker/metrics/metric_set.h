// MetricSet: a job's configured metrics (JobConfig.metrics, "accuracy" when
// empty) over one flat array of sums, the unit the trainer accumulates per
// batch, sums over ranks in one AllReduceSumHostScalars, keeps in its progress
// (and checkpoints) and turns into Keras's logs.
//
// Log names (LogNames) are Keras's epoch logs: "loss", each metric, then
// "val_loss" and "val_" + each metric, in that order. Immutable after Create.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/loss/host_staging.h"
#include "worker/loss/targets.h"
#include "worker/metrics/metric.h"

namespace shardtrain::metrics {

Status ValidateMetrics(const config::JobConfig& config);

// (name, value) pairs in order, as callbacks::EpochEnd::logs holds them.
using Logs = std::vector<std::pair<std::string, double>>;

class MetricSet {
 public:
  // The metrics of `config` for a model output of `output_units` values, read
  // from `backend`'s memory in batches of at most `max_batch` rows (`backend`
  // must outlive the set). InvalidArgument as ValidateMetrics; the backend's
  // allocation errors.
  static StatusOr<MetricSet> Create(kernels::KernelBackend& backend,
                                    const config::JobConfig& config, int64_t output_units,
                                    int64_t max_batch);

  // The model output the metrics read.
  const OutputSpec& output() const { return output_; }
  // Length of the sums array (0 for accuracy alone).
  int64_t num_sums() const { return num_sums_; }
  // Adds `rows` (<= max_batch) examples: outputs (rows, output_units), and
  // `targets` of the job's label kind (class ids, or vectors of output_units
  // values), to the host array `sums`. Errors: what the backend recorded.
  Status Accumulate(kernels::KernelBackend& backend, const float* outputs,
                    const loss::Targets& targets, int64_t rows, double* sums);
  // The examples whose output is right for "accuracy" (Totals::correct), as
  // Keras resolves it from the shapes: one unit, binary accuracy; class ids,
  // argmax == label (on `backend`); VECTOR labels, argmax == the target's argmax.
  // Errors: what the backend recorded.
  StatusOr<int64_t> CorrectCount(kernels::KernelBackend& backend, const float* outputs,
                                 const loss::Targets& targets, int64_t rows);
  // Appends (prefix + name, value) for each metric, in the configured order;
  // `sums` has num_sums() values summed over batches and ranks.
  void AppendLogs(const double* sums, const Totals& totals, const std::string& prefix,
                  Logs* logs) const;

 private:
  friend Status ValidateMetrics(const config::JobConfig& config);
  // The metrics of `config` without a copy buffer (ValidateMetrics).
  static StatusOr<MetricSet> Build(const config::JobConfig& config, int64_t output_units);
  // The host's view of `rows` outputs and their targets, after the copies.
  Status ReadOnHost(kernels::KernelBackend& backend, const float** outputs, loss::Targets* targets,
                    int64_t rows);

  OutputSpec output_;
  loss::HostReads reads_;  // outputs and targets on their way to the host
  std::vector<std::unique_ptr<Metric>> metrics_;
  std::vector<int64_t> offsets_;  // of each metric's sums
  int64_t num_sums_ = 0;
};

// The job's metric names: config.metrics; when empty {"accuracy"}, or none
// for regression (mean_squared_error on VECTOR labels), as Keras logs the
// loss alone there.
std::vector<std::string> MetricNames(const config::JobConfig& config);
// Keras's epoch log names of the job: loss, metrics, then val_loss and the
// val_ metrics when the job has validation data (data::HasValidationData).
std::vector<std::string> LogNames(const config::JobConfig& config);
// OK when every metric is known, listed once, and fits the model's output
// (loss::OutputUnits: data.num_classes values, 1 for binary_crossentropy, or
// data.label.size for VECTOR labels) and the label kind; otherwise
// InvalidArgument naming the metric, the label kind and what to do.
Status ValidateMetrics(const config::JobConfig& config);

}  // namespace shardtrain::metrics
