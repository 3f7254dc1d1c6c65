#include "worker/trainer.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "common/philox.h"

namespace shardtrain {
namespace {

// Philox stream ids of the trainer's random draws (initializers use the
// variable index, dropout the layer index; these sit far above both).
constexpr uint32_t kShuffleStream = 0x5348554Eu;  // "SHUN"
// Rows per inference batch in Evaluate.
constexpr int64_t kEvalBatch = 1024;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

std::vector<int64_t> EpochOrder(uint64_t seed, int64_t epoch, int64_t n, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return order;
  for (int64_t i = n - 1; i > 0; --i) {
    uint32_t bits = PhiloxBits(seed, static_cast<uint64_t>(epoch), kShuffleStream,
                               static_cast<uint64_t>(i));
    // Lemire's multiply-shift maps 32 random bits onto [0, i].
    int64_t j = static_cast<int64_t>((static_cast<uint64_t>(bits) * static_cast<uint64_t>(i + 1)) >> 32);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const config::JobConfig& config,
                                                   kernels::KernelBackend* backend) {
  std::unique_ptr<Trainer> trainer(new Trainer());
  trainer->config_ = config;
  trainer->backend_ = backend;
  trainer->batch_size_ = config.training().batch_size();
  int64_t max_batch = std::max(trainer->batch_size_, kEvalBatch);
  ASSIGN_OR_RETURN(trainer->model_, model::Model::Create(config.model(), max_batch));
  int64_t classes = config.data().num_classes();
  if (trainer->model_->output_size() != classes) {
    return InvalidArgumentError("the model's output has " +
                                std::to_string(trainer->model_->output_size()) +
                                " units but data.num_classes is " + std::to_string(classes) +
                                "; make the last dense layer's units equal num_classes");
  }
  ASSIGN_OR_RETURN(loss::Loss loss, loss::Loss::Create(config.loss(), trainer->model_->final_activation(),
                                                 classes, max_batch));
  trainer->loss_ = std::make_unique<loss::Loss>(std::move(loss));
  ASSIGN_OR_RETURN(trainer->optimizer_,
                   optimizer::Optimizer::Create(config.optimizer(),
                                                trainer->model_->parameters().size()));
  trainer->model_->Initialize(*backend, config.training().seed());
  trainer->x_.resize(static_cast<size_t>(max_batch * trainer->model_->input_size()));
  trainer->labels_.resize(static_cast<size_t>(max_batch));
  trainer->grad_output_.resize(static_cast<size_t>(max_batch * classes));
  return trainer;
}

Status Trainer::CheckDataset(const data::Dataset& dataset, const char* split) const {
  if (dataset.num_examples == 0) {
    return InvalidArgumentError(std::string("the ") + split + " split has no examples");
  }
  if (dataset.feature_size != model_->input_size()) {
    return InvalidArgumentError(std::string("the ") + split + " examples have " +
                                std::to_string(dataset.feature_size) +
                                " values each but model.input_shape has " +
                                std::to_string(model_->input_size()));
  }
  return OkStatus();
}

void Trainer::GatherBatch(const data::Dataset& dataset, const int64_t* indices, int64_t rows) {
  const int64_t features = dataset.feature_size;
  constexpr float kScale = 1.0f / 255.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* pixels = dataset.images.data() + indices[r] * features;
    float* out = x_.data() + r * features;
    for (int64_t j = 0; j < features; ++j) out[j] = static_cast<float>(pixels[j]) * kScale;
    labels_[static_cast<size_t>(r)] = dataset.labels[static_cast<size_t>(indices[r])];
  }
}

double Trainer::TrainStep(const data::Dataset& dataset, const int64_t* indices, int64_t rows,
                          int64_t* correct) {
  GatherBatch(dataset, indices, rows);
  bool fused = loss_->fuses_final_softmax();
  model::ForwardMode mode{true, config_.training().seed(), static_cast<uint64_t>(global_step_), 0};
  const float* output = model_->Forward(*backend_, x_.data(), rows, mode, fused);
  double loss_sum = loss_->Compute(*backend_, output, labels_.data(), rows, grad_output_.data(),
                                   static_cast<double>(rows));
  *correct += backend_->SparseAccuracyCount(output, labels_.data(), rows, model_->output_size());
  model_->Backward(*backend_, x_.data(), grad_output_.data(), rows, fused);
  model::ParameterStore& params = model_->parameters();
  optimizer_->Apply(*backend_, params.params(), params.grads());
  ++global_step_;
  return loss_sum;
}

StatusOr<EvalResult> Trainer::Evaluate(const data::Dataset& dataset) {
  RETURN_IF_ERROR(CheckDataset(dataset, "evaluation"));
  EvalResult result;
  std::vector<int64_t> indices(static_cast<size_t>(kEvalBatch));
  double loss_sum = 0;
  int64_t correct = 0;
  bool fused = loss_->fuses_final_softmax();
  for (int64_t start = 0; start < dataset.num_examples; start += kEvalBatch) {
    int64_t rows = std::min(kEvalBatch, dataset.num_examples - start);
    std::iota(indices.begin(), indices.begin() + rows, start);
    GatherBatch(dataset, indices.data(), rows);
    const float* output = model_->Forward(*backend_, x_.data(), rows, model::ForwardMode{}, fused);
    loss_sum += loss_->Compute(*backend_, output, labels_.data(), rows, nullptr, 1.0);
    correct += backend_->SparseAccuracyCount(output, labels_.data(), rows, model_->output_size());
  }
  result.examples = dataset.num_examples;
  result.loss = loss_sum / static_cast<double>(dataset.num_examples);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(dataset.num_examples);
  return result;
}

Status Trainer::Fit(const data::Dataset& train, const data::Dataset& val,
                    const std::vector<callbacks::Callback*>& callbacks) {
  RETURN_IF_ERROR(CheckDataset(train, "training"));
  RETURN_IF_ERROR(CheckDataset(val, "validation"));
  const config::TrainingConfig& training = config_.training();
  const int64_t n = train.num_examples;
  const int64_t steps_per_epoch = (n + batch_size_ - 1) / batch_size_;

  callbacks::TrainBegin begin;
  begin.job_name = config_.name().empty() ? "job" : config_.name();
  begin.first_epoch = 1;
  begin.epochs = training.epochs();
  begin.steps_per_epoch = steps_per_epoch;
  begin.train_examples = n;
  begin.val_examples = val.num_examples;
  begin.parameters = model_->parameters().size();
  begin.device = std::string(backend_->name());
  begin.optimizer = optimizer_->Describe();
  for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnTrainBegin(begin));

  auto fit_start = std::chrono::steady_clock::now();
  for (int64_t epoch = 0; epoch < training.epochs(); ++epoch) {
    auto epoch_start = std::chrono::steady_clock::now();
    std::vector<int64_t> order = EpochOrder(training.seed(), epoch, n, training.shuffle());
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t step = 0; step < steps_per_epoch; ++step) {
      int64_t start = step * batch_size_;
      int64_t rows = std::min(batch_size_, n - start);
      loss_sum += TrainStep(train, order.data() + start, rows, &correct);
      callbacks::BatchEnd batch{epoch + 1,
                                step + 1,
                                steps_per_epoch,
                                loss_sum / static_cast<double>(start + rows),
                                static_cast<double>(correct) / static_cast<double>(start + rows),
                                Seconds(epoch_start)};
      for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnBatchEnd(batch));
    }
    double train_seconds = Seconds(epoch_start);
    ASSIGN_OR_RETURN(EvalResult val_result, Evaluate(val));
    callbacks::EpochEnd end;
    end.epoch = epoch + 1;
    end.step = global_step_;
    end.steps_in_epoch = steps_per_epoch;
    end.loss = loss_sum / static_cast<double>(n);
    end.accuracy = static_cast<double>(correct) / static_cast<double>(n);
    end.val_loss = val_result.loss;
    end.val_accuracy = val_result.accuracy;
    end.examples_per_sec = static_cast<double>(n) / train_seconds;
    end.epoch_seconds = Seconds(epoch_start);
    end.wall_seconds = Seconds(fit_start);
    for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnEpochEnd(end));
  }
  for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnTrainEnd());
  return OkStatus();
}

}  // namespace shardtrain
