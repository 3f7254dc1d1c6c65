#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>

#include "worker/comm/host_collectives.h"
#include "worker/comm/local_communicator.h"
#include "worker/in_memory_batches.h"

namespace shardtrain {
namespace {

// Rows per inference batch in Evaluate.
constexpr int64_t kEvalBatch = 1024;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Whether some layer adds a kernel regularizer's gradient to the summed one.
bool HasRegularizers(const model::Model& model) {
  for (const model::Model::Layer& layer : model.layers()) {
    if (layer.l1 != 0.0f || layer.l2 != 0.0f) return true;
  }
  return false;
}

}  // namespace

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const config::JobConfig& config,
                                                   kernels::KernelBackend* backend,
                                                   comm::Communicator* comm,
                                                   int64_t bucket_bytes) {
  std::unique_ptr<Trainer> trainer(new Trainer());
  trainer->config_ = config;
  trainer->backend_ = backend;
  if (comm == nullptr) {
    trainer->owned_comm_ = std::make_unique<comm::LocalCommunicator>();
    comm = trainer->owned_comm_.get();
  }
  trainer->comm_ = comm;
  trainer->batch_size_ = config.training().batch_size();
  int64_t max_batch = std::max(trainer->batch_size_, kEvalBatch);
  ASSIGN_OR_RETURN(trainer->model_, model::Model::Create(config.model(), max_batch, *backend));
  // The loss checks the output width against the labels (data.num_classes,
  // 1 for binary_crossentropy, or a VECTOR label's size).
  ASSIGN_OR_RETURN(loss::Loss loss,
                   loss::Loss::Create(*backend, config,
                                      {trainer->model_->final_activation(),
                                       trainer->model_->final_activation_positions()},
                                      trainer->model_->output_size(), max_batch));
  trainer->loss_ = std::make_unique<loss::Loss>(std::move(loss));
  ASSIGN_OR_RETURN(metrics::MetricSet metric_set,
                   metrics::MetricSet::Create(*backend, config, trainer->model_->output_size(),
                                              max_batch));
  trainer->metrics_ = std::make_unique<metrics::MetricSet>(std::move(metric_set));
  trainer->step_metric_sums_.resize(static_cast<size_t>(trainer->metrics_->num_sums()));
  const int64_t num_parameters = trainer->model_->parameters().size();
  // Frozen layers (trainable: false) are neither updated nor given slots.
  ASSIGN_OR_RETURN(trainer->optimizer_,
                   optimizer::Optimizer::Create(*backend, config.optimizer(),
                                                trainer->model_->parameters()));
  // Gradients where the host reads them (the CPU backend): one node's ranks
  // sum them in a shared-memory window without copies, and each float's
  // update runs on its owner rank only. On a device the host cannot read,
  // the device buffer, reduced bucket by bucket (GradientReducer).
  if (backend->host_reads_device_memory()) {
    trainer->reducer_ =
        std::make_unique<comm::GradientReducer>(comm, num_parameters, bucket_bytes);
    ASSIGN_OR_RETURN(float* gradient_storage, comm->AllocateGradientBuffer(num_parameters));
    trainer->model_->parameters().UseGradientStorage(gradient_storage);
    ASSIGN_OR_RETURN(trainer->sliced_step_,
                     SlicedOptimizerStep::Create(*comm, *trainer->optimizer_,
                                                 trainer->model_->parameters(),
                                                 !HasRegularizers(*trainer->model_)));
  } else {
    ASSIGN_OR_RETURN(trainer->reducer_, comm::GradientReducer::CreateForDevice(
                                            comm, backend, num_parameters, bucket_bytes));
  }
  trainer->model_->Initialize(*backend, config.training().seed());
  // Synchronized BatchNormalization sums its statistics over the ranks.
  if (comm->world_size() > 1) {
    trainer->model_->SetCrossRankSum([comm](double* values, int64_t n) {
      return comm::AllReduceSumHostDoubles(*comm, values, n);
    });
  }
  const config::LabelSpec& label = config.data().label();
  trainer->label_width_ = label.kind() == config::LabelSpec::VECTOR ? label.size() : 0;
  ASSIGN_OR_RETURN(trainer->batch_slots_,
                   DeviceBatches::Create(*backend, max_batch, trainer->model_->input_size(),
                                         trainer->label_width_));
  ASSIGN_OR_RETURN(trainer->grad_output_,
                   backend->AllocateDevice(max_batch * trainer->model_->output_size() *
                                               static_cast<int64_t>(sizeof(float)),
                                           "loss gradient"));
  return trainer;
}

Status Trainer::CheckDataset(const data::Dataset& dataset, const char* split,
                             bool labeled) const {
  return shardtrain::CheckDataset(dataset, split, model_->input_size(), label_width_, labeled);
}

Status Trainer::GatherBatch(const data::Dataset& dataset, const int64_t* indices, int64_t rows,
                            int slot) {
  ASSIGN_OR_RETURN(BatchBuffers host, batch_slots_.host(slot));
  GatherRows(dataset, indices, rows, host.x, host.class_ids, host.label_values);
  batch_slots_.Upload(slot, rows);
  return OkStatus();
}

Status Trainer::ReadBatch(EpochBatches& batches, int slot, PendingBatch* batch) {
  StatusOr<BatchBuffers> host = batch_slots_.host(slot);
  if (!host.ok()) return host.status().WithContext("before reading the next batch");
  batch->rows = batches.Next(host->x, host->class_ids, host->label_values);
  batch->cursor = batches.cursor();
  if (batch->rows.ok()) batch_slots_.Upload(slot, batch->rows->rows);
  return OkStatus();
}

Status Trainer::BroadcastParameters() {
  if (world_size() == 1) return OkStatus();
  model::ParameterStore& params = model_->parameters();
  if (!backend_->host_reads_device_memory() && !comm_->sums_device_memory()) {
    return BroadcastParametersThroughHost();
  }
  // A device communicator (nccl) runs on a stream of its own: the
  // initialization enqueued on kCompute must be done first.
  if (!backend_->host_reads_device_memory()) {
    RETURN_IF_ERROR(backend_->Synchronize().WithContext("initializing the parameters"));
  }
  return comm_->Broadcast(params.params(), params.size() * static_cast<int64_t>(sizeof(float)), 0)
      .WithContext("broadcasting the initial parameters from rank 0");
}

Status Trainer::BroadcastParametersThroughHost() {
  model::ParameterStore& params = model_->parameters();
  std::vector<float> host(static_cast<size_t>(params.size()));
  RETURN_IF_ERROR(params.CopyParamsToHost(host.data()));
  RETURN_IF_ERROR(comm_->Broadcast(host.data(), params.size() * static_cast<int64_t>(sizeof(float)),
                                   0)
                      .WithContext("broadcasting the initial parameters from rank 0"));
  return params.CopyParamsFromHost(host.data());
}

Status Trainer::Step(const float* x, const loss::Targets& targets, const StepRows& step,
                     StepResult* result) {
  model::ParameterStore& params = model_->parameters();
  double loss_sum = 0;
  int64_t correct = 0;
  const int64_t rows = step.rows;
  std::fill(step_metric_sums_.begin(), step_metric_sums_.end(), 0.0);
  if (rows > 0) {
    const bool fused = loss_->fuses_final_softmax();
    model::ForwardMode mode{true, config_.training().seed(),
                            static_cast<uint64_t>(progress_.global_step),
                            static_cast<uint64_t>(step.first_row)};
    const float* output = model_->Forward(*backend_, x, rows, mode, fused);
    // d(global mean loss)/d(output): this rank's share of the 1/global_rows mean.
    ASSIGN_OR_RETURN(loss_sum, loss_->Compute(*backend_, output, targets, rows,
                                              grad_output_.floats(),
                                              static_cast<double>(step.global_rows)));
    ASSIGN_OR_RETURN(correct, metrics_->CorrectCount(*backend_, output, targets, rows));
    RETURN_IF_ERROR(
        metrics_->Accumulate(*backend_, output, targets, rows, step_metric_sums_.data()));
    model_->Backward(*backend_, x, grad_output_.floats(), rows, fused);
  } else {
    model_->ParticipateWithoutRows();
    backend_->Fill(params.grads(), 0.0f, params.size());
  }
  RETURN_IF_ERROR(model_->TakeCrossRankStatus().WithContext(
      "summing synchronized batch_normalization statistics over ranks at step " +
      std::to_string(progress_.global_step)));
  // BatchNormalization: this rank's batch moments, weighted by its share of
  // the rows, into the moving statistics' gradient slots for the sum below.
  if (model_->has_moving_statistics()) {
    model_->StoreBatchStatistics(
        rows > 0 ? static_cast<float>(rows) / static_cast<float>(step.global_rows) : 0.0f);
  }
  int64_t examples = rows;
  if (sliced_step_ != nullptr) {  // the gradients are summed by sliced_step_->Step below
    RETURN_IF_ERROR(reducer_->AllReduceScalars(&loss_sum, &examples, &correct)
                        .WithContext("summing step totals at step " +
                                     std::to_string(progress_.global_step)));
  } else {
    RETURN_IF_ERROR(reducer_->AllReduce(params.grads(), &loss_sum, &examples, &correct)
                        .WithContext("summing gradients at step " +
                                     std::to_string(progress_.global_step)));
  }
  // Moving statistics from the summed slots (the sliced step is off when they exist).
  if (model_->has_moving_statistics()) model_->UpdateMovingStatistics();
  RETURN_IF_ERROR(comm::AllReduceSumHostDoubles(*comm_, step_metric_sums_.data(),
                                                static_cast<int64_t>(step_metric_sums_.size()))
                      .WithContext("summing metrics at step " +
                                   std::to_string(progress_.global_step)));
  // Kernel regularizers: Keras adds their penalty to each batch's
  // loss and its gradient to the summed one, the same on every rank.
  if (sliced_step_ != nullptr) {
    RETURN_IF_ERROR(sliced_step_->Step(*backend_).WithContext(
        "summing gradients and updating at step " + std::to_string(progress_.global_step)));
  } else {
    loss_sum += model_->AddRegularizationGradients() * static_cast<double>(examples);
    optimizer_->Apply(*backend_, params.params(), params.grads());
  }
  ++progress_.global_step;
  *result = StepResult{loss_sum, examples, correct, step_metric_sums_.data()};
  return OkStatus();
}

StatusOr<EvalResult> Trainer::Evaluate(const data::Dataset& dataset) {
  RETURN_IF_ERROR(CheckDataset(dataset, "evaluation"));
  // This rank's contiguous slice of the examples.
  const int64_t n = dataset.num_examples, world = world_size(), r = rank();
  const int64_t begin = r * (n / world) + std::min(r, n % world);
  const int64_t count = n / world + (r < n % world ? 1 : 0);
  std::vector<int64_t> indices(static_cast<size_t>(kEvalBatch));
  // loss, correct, examples, then the metrics' sums: reduced in one call.
  constexpr int64_t kMetricSums = 3;
  std::vector<double> sums(static_cast<size_t>(kMetricSums + metrics_->num_sums()), 0.0);
  const bool fused = loss_->fuses_final_softmax();
  int slot = 0;
  for (int64_t start = begin; start < begin + count;
       start += kEvalBatch, slot = batch_slots_.NextSlot(slot)) {
    int64_t rows = std::min(kEvalBatch, begin + count - start);
    std::iota(indices.begin(), indices.begin() + rows, start);
    RETURN_IF_ERROR(GatherBatch(dataset, indices.data(), rows, slot));
    const float* x = batch_slots_.Use(slot).x;
    const loss::Targets targets = batch_slots_.Targets(slot);
    const float* output = model_->Forward(*backend_, x, rows, model::ForwardMode{}, fused);
    ASSIGN_OR_RETURN(const double loss_sum,
                     loss_->Compute(*backend_, output, targets, rows, nullptr, 1.0));
    ASSIGN_OR_RETURN(const int64_t correct,
                     metrics_->CorrectCount(*backend_, output, targets, rows));
    sums[0] += loss_sum;
    sums[1] += static_cast<double>(correct);
    RETURN_IF_ERROR(
        metrics_->Accumulate(*backend_, output, targets, rows, sums.data() + kMetricSums));
    batch_slots_.Release(slot);
  }
  sums[2] = static_cast<double>(count);
  RETURN_IF_ERROR(comm::AllReduceSumHostDoubles(*comm_, sums.data(),
                                                static_cast<int64_t>(sums.size()))
                      .WithContext("reducing evaluation sums"));
  EvalResult result;
  result.examples = static_cast<int64_t>(sums[2]);
  // Keras's evaluation loss includes the regularizers' penalty too.
  result.loss = sums[0] / sums[2] + model_->RegularizationPenalty();
  result.accuracy = sums[1] / sums[2];
  metrics_->AppendLogs(sums.data() + kMetricSums,
                       metrics::Totals{result.examples, static_cast<int64_t>(sums[1])}, "",
                       &result.metrics);
  return result;
}

void Trainer::ResumeFrom(const TrainingProgress& progress) { progress_ = progress; }

optimizer::Optimizer& Trainer::optimizer() {
  if (sliced_step_ != nullptr) sliced_step_->SyncOptimizerSlots();
  return *optimizer_;
}

void Trainer::AddToEpoch(const StepResult& step) {
  progress_.epoch_loss_sum += step.loss_sum;
  progress_.epoch_correct += step.correct;
  progress_.epoch_examples += step.examples;
  std::vector<double>& sums = progress_.epoch_metric_sums;
  // A new epoch, or a resume whose checkpoint has no sums of these metrics:
  // they count from here.
  if (sums.size() != step_metric_sums_.size()) sums.assign(step_metric_sums_.size(), 0.0);
  for (size_t i = 0; i < sums.size(); ++i) sums[i] += step.metric_sums[i];
}

metrics::Logs Trainer::TrainingLogs() const {
  const double seen = static_cast<double>(std::max<int64_t>(progress_.epoch_examples, 1));
  metrics::Logs logs = {{"loss", progress_.epoch_loss_sum / seen}};
  std::vector<double> no_steps;  // an epoch without steps yet: all sums 0
  const double* sums = progress_.epoch_metric_sums.data();
  if (progress_.epoch_metric_sums.size() != step_metric_sums_.size()) {
    no_steps.assign(step_metric_sums_.size(), 0.0);
    sums = no_steps.data();
  }
  metrics_->AppendLogs(sums, metrics::Totals{progress_.epoch_examples, progress_.epoch_correct},
                       "", &logs);
  return logs;
}

StatusOr<std::vector<float>> Trainer::Predict(const data::Dataset& dataset) {
  RETURN_IF_ERROR(CheckDataset(dataset, "prediction", /*labeled=*/false));
  const int64_t classes = model_->output_size();
  std::vector<float> outputs(static_cast<size_t>(dataset.num_examples * classes));
  std::vector<int64_t> indices(static_cast<size_t>(kEvalBatch));
  int slot = 0;
  for (int64_t start = 0; start < dataset.num_examples;
       start += kEvalBatch, slot = batch_slots_.NextSlot(slot)) {
    const int64_t rows = std::min(kEvalBatch, dataset.num_examples - start);
    std::iota(indices.begin(), indices.begin() + rows, start);
    RETURN_IF_ERROR(GatherBatch(dataset, indices.data(), rows, slot));
    const float* output = model_->Forward(*backend_, batch_slots_.Use(slot).x, rows,
                                          model::ForwardMode{}, /*skip_final_softmax=*/false);
    // Enqueued on kCompute, before the next batch's forward overwrites it
    // (into pageable memory: CUDA returns once it is done).
    backend_->CopyToHost(outputs.data() + start * classes, output,
                         rows * classes * static_cast<int64_t>(sizeof(float)));
    batch_slots_.Release(slot);
  }
  RETURN_IF_ERROR(backend_->Synchronize().WithContext("predicting"));
  return outputs;
}

callbacks::TrainBegin Trainer::DescribeTraining(int64_t train_examples,
                                                const EpochBatches* first_epoch,
                                                const data::Dataset* val) const {
  callbacks::TrainBegin begin;
  begin.job_name = config_.name().empty() ? "job" : config_.name();
  begin.first_epoch = progress_.epoch + 1;
  begin.epochs = config_.training().epochs();
  // A streamed epoch may take more steps than whole batches (ranks' shares
  // end unevenly), so the first epoch's own count is shown when it is planned.
  begin.steps_per_epoch = first_epoch != nullptr ? first_epoch->steps_in_epoch()
                                                 : (train_examples + batch_size_ - 1) / batch_size_;
  begin.train_examples = train_examples;
  begin.val_examples = val != nullptr ? val->num_examples : 0;
  begin.parameters = model_->parameters().size();
  begin.device = std::string(backend_->name());
  if (world_size() > 1) {
    begin.device += " x " + std::to_string(world_size()) + " ranks (" +
                    std::string(comm_->name()) + " allreduce)";
  }
  begin.optimizer = optimizer_->Describe();
  return begin;
}

Status Trainer::TrainEpochSteps(EpochBatches& batches, int64_t epoch,
                                Clock::time_point epoch_start,
                                const std::vector<callbacks::Callback*>& callbacks,
                                int64_t* session_seen) {
  const int64_t steps_in_epoch = batches.steps_in_epoch();
  // With two batch slots (a device the host cannot read), step s + 1's batch
  // is read and uploaded before step s is launched, so that its copy overlaps
  // step s's compute (device_batches.h). The data cursor after each step is
  // taken before the next batch is read, and a failure to read that batch is
  // reported after the step, where it would be without the read-ahead (a
  // device error met waiting for the slot, at once). With one slot (the CPU
  // backend) each batch is read just before its step.
  const bool read_ahead = batch_slots_.num_slots() > 1;
  PendingBatch next;
  int slot = 0;
  if (read_ahead && batches.steps() > 0) RETURN_IF_ERROR(ReadBatch(batches, slot, &next));
  for (int64_t s = 0; s < batches.steps(); ++s) {
    const int64_t step_in_epoch = batches.first_step() + s;
    if (!read_ahead) RETURN_IF_ERROR(ReadBatch(batches, slot, &next));
    RETURN_IF_ERROR(next.rows.status());
    const StepRows rows = *next.rows;
    std::vector<DataStage> cursor = std::move(next.cursor);
    const int next_slot = batch_slots_.NextSlot(slot);
    if (read_ahead && s + 1 < batches.steps()) {
      RETURN_IF_ERROR(ReadBatch(batches, next_slot, &next));
    }
    StepResult result;
    RETURN_IF_ERROR(
        Step(batch_slots_.Use(slot).x, batch_slots_.Targets(slot), rows, &result));
    batch_slots_.Release(slot);
    slot = next_slot;
    *session_seen += result.examples;
    progress_.position += rows.global_rows;
    progress_.data_stages = std::move(cursor);
    AddToEpoch(result);
    const double seconds = Seconds(epoch_start);
    callbacks::BatchEnd batch{epoch + 1,
                              step_in_epoch + 1,
                              steps_in_epoch,
                              0.0,
                              seconds,
                              static_cast<double>(*session_seen) / seconds,
                              progress_.epoch_examples};
    batch.global_step = progress_.global_step;
    batch.learning_rate = optimizer_->last_learning_rate();
    batch.logs = TrainingLogs();
    batch.loss = *batch.Log("loss");
    for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnBatchEnd(batch));
    if (stop_requested_) break;
  }
  return OkStatus();
}

Status Trainer::EndEpoch(int64_t epoch, int64_t steps_in_epoch, const data::Dataset* val,
                         Clock::time_point epoch_start, Clock::time_point fit_start,
                         int64_t session_seen,
                         const std::vector<callbacks::Callback*>& callbacks) {
  const double train_seconds = Seconds(epoch_start);
  callbacks::EpochEnd end;
  end.epoch = epoch + 1;
  end.step = progress_.global_step;
  end.steps_in_epoch = steps_in_epoch;
  end.logs = TrainingLogs();
  if (val != nullptr) {
    ASSIGN_OR_RETURN(EvalResult val_result, Evaluate(*val));
    end.logs.emplace_back("val_loss", val_result.loss);
    for (const auto& [name, value] : val_result.metrics) {
      end.logs.emplace_back("val_" + name, value);
    }
  }
  end.examples_per_sec = static_cast<double>(session_seen) / train_seconds;
  end.examples = progress_.epoch_examples;
  end.epoch_seconds = Seconds(epoch_start);
  end.wall_seconds = Seconds(fit_start);
  end.learning_rate = optimizer_->learning_rate();
  progress_ = TrainingProgress{epoch + 1, 0, progress_.global_step};
  for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnEpochEnd(end));
  return OkStatus();
}

Status Trainer::CheckTrainableHead() const {
  const model::Model::Layer* dropout = model_->ActiveDropoutAfterFinalActivation();
  if (dropout == nullptr || !loss_->fuses_final_softmax()) return OkStatus();
  return InvalidArgumentError(
      "loss." + loss_->name() + " with from_logits: false is computed from the logits before " +
      "the final softmax, but Dropout '" + dropout->name +
      "' follows that softmax: in training Keras would drop probabilities and take the "
      "cross-entropy of what is left, which shardtrain does not compute (evaluation, "
      "prediction and export, without dropout, are not affected). Put the Dropout before the "
      "softmax layer, or end with a linear layer and from_logits: true");
}

Status Trainer::Fit(EpochPlanner* planner, const data::Dataset* val,
                    const std::vector<callbacks::Callback*>& callbacks) {
  RETURN_IF_ERROR(CheckTrainableHead());
  RETURN_IF_ERROR(planner->CheckExamples(model_->input_size(), label_width_));
  if (val != nullptr) RETURN_IF_ERROR(CheckDataset(*val, "validation"));
  RETURN_IF_ERROR(BroadcastParameters());
  const Clock::time_point fit_start = Clock::now();
  Clock::time_point epoch_start = fit_start;
  // The first epoch is planned before OnTrainBegin, which reports its steps.
  std::unique_ptr<EpochBatches> batches;
  if (progress_.epoch < config_.training().epochs()) {
    ASSIGN_OR_RETURN(batches,
                     planner->Plan(progress_.epoch, progress_.position, progress_.data_stages));
  }
  const callbacks::TrainBegin begin =
      DescribeTraining(planner->epoch_examples(), batches.get(), val);
  for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnTrainBegin(begin));

  stopped_ = false;
  for (int64_t epoch = progress_.epoch; epoch < begin.epochs; ++epoch) {
    if (batches == nullptr) {
      epoch_start = Clock::now();
      if (epoch != progress_.epoch) progress_ = TrainingProgress{epoch, 0, progress_.global_step};
      ASSIGN_OR_RETURN(batches, planner->Plan(epoch, progress_.position, progress_.data_stages));
    }
    int64_t session_seen = 0;  // examples trained on in this session (examples/s)
    RETURN_IF_ERROR(TrainEpochSteps(*batches, epoch, epoch_start, callbacks, &session_seen));
    if (!stop_requested_) {
      RETURN_IF_ERROR(EndEpoch(epoch, batches->steps_in_epoch(), val, epoch_start, fit_start,
                               session_seen, callbacks));
    }
    batches.reset();
    if (stop_requested_) {
      stopped_ = true;
      return OkStatus();
    }
  }
  for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnTrainEnd());
  return OkStatus();
}

}  // namespace shardtrain
