// Runs a job's model or a SavedModel on examples in batches. See model_runner.h.
#include "cli/model_runner.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "serving/loaded_model.h"
#include "worker/loss/loss.h"

namespace shardtrain::cli {
namespace {

// Rows per batch the SavedModel runtime is given at most (it takes any).
constexpr int64_t kSavedModelMaxBatch = int64_t{1} << 20;

// Probabilities from logits over each row of `values` (rows x cols), in
// place: a sigmoid of each value for binary cross-entropy's independent
// logits (`sigmoid`), else a softmax of each row.
void ProbabilitiesFromLogits(float* values, int64_t rows, int64_t cols, bool sigmoid) {
  if (sigmoid) {
    for (int64_t i = 0; i < rows * cols; ++i) values[i] = 1.0f / (1.0f + std::exp(-values[i]));
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* row = values + r * cols;
    const float max = *std::max_element(row, row + cols);
    float sum = 0;
    for (int64_t c = 0; c < cols; ++c) sum += row[c] = std::exp(row[c] - max);
    for (int64_t c = 0; c < cols; ++c) row[c] /= sum;
  }
}

class JobRunner : public ModelRunner {
 public:
  JobRunner(ModelJob* job, bool probabilities) : job_(job), probabilities_(probabilities) {}
  int64_t input_size() const override { return job_->trainer->model().input_size(); }
  int64_t max_batch() const override { return job_->config.training().batch_size(); }
  StatusOr<std::vector<float>> Run(const float* x, int64_t rows) override {
    model::Model& model = job_->trainer->model();
    const float* out = model.Forward(*job_->backend, x, rows, model::ForwardMode{},
                                     /*skip_final_softmax=*/false);
    std::vector<float> outputs(out, out + rows * model.output_size());
    if (probabilities_) {
      ProbabilitiesFromLogits(outputs.data(), rows, model.output_size(),
                              job_->config.loss().has_binary_crossentropy());
    }
    return outputs;
  }

 private:
  ModelJob* job_;
  bool probabilities_;
};

class SavedModelRun : public ModelRunner {
 public:
  SavedModelRun(std::unique_ptr<serving::LoadedModel> model, std::string input_key,
                int64_t input_size, std::string output_key)
      : model_(std::move(model)),
        input_key_(std::move(input_key)),
        input_size_(input_size),
        output_key_(std::move(output_key)) {}
  int64_t input_size() const override { return input_size_; }
  int64_t max_batch() const override { return kSavedModelMaxBatch; }
  StatusOr<std::vector<float>> Run(const float* x, int64_t rows) override {
    const int64_t features = input_size_;
    serving::Tensor tensor = serving::Tensor::Floats({rows, features});
    std::copy(x, x + rows * features, tensor.f.begin());
    ASSIGN_OR_RETURN(auto result,
                     model_->Run("serving_default", {{input_key_, std::move(tensor)}}));
    auto out = result.find(output_key_);
    if (out == result.end()) {
      return FailedPreconditionError(model_->export_dir() + ": no " + output_key_ +
                                     " in the result");
    }
    return std::move(out->second.f);
  }

 private:
  std::unique_ptr<serving::LoadedModel> model_;
  std::string input_key_;
  int64_t input_size_;
  std::string output_key_;
};

// The from-logits test `export` applies: the loss takes logits and the last layer is linear.
bool OutputsLogits(const ModelJob& job) {
  return loss::LossTakesLogits(job.config.loss()) &&
         job.trainer->model().final_activation() == kernels::Activation::kLinear;
}

// `x->size()` values of `inputs` from value `first` on, as value * scale + offset.
void ScaleRows(const ModelInputs& inputs, int64_t first, std::vector<float>* x) {
  const float scale = inputs.scale, offset = inputs.offset;
  if (inputs.pixels.empty()) {
    const float* values = inputs.values.data() + first;
    for (size_t i = 0; i < x->size(); ++i) (*x)[i] = values[i] * scale + offset;
    return;
  }
  const uint8_t* pixels = inputs.pixels.data() + first;
  for (size_t i = 0; i < x->size(); ++i) (*x)[i] = static_cast<float>(pixels[i]) * scale + offset;
}

}  // namespace

ModelInputs InputsFromDataset(data::Dataset dataset, std::string source) {
  ModelInputs inputs;
  inputs.source = std::move(source);
  inputs.rows = dataset.num_examples;
  inputs.row_size = dataset.feature_size;
  inputs.shape = "(" + std::to_string(dataset.num_examples) + ", " +
                 std::to_string(dataset.feature_size) + ")";
  inputs.values = std::move(dataset.features);
  return inputs;
}

StatusOr<std::unique_ptr<ModelRunner>> JobModelRunner(ModelJob* job, bool probabilities) {
  if (probabilities && !OutputsLogits(*job)) {
    return InvalidArgumentError(
        "--probabilities needs a from-logits classifier (a linear last layer and a loss with "
        "from_logits: true); this model's outputs are used as they are");
  }
  return std::unique_ptr<ModelRunner>(new JobRunner(job, probabilities));
}

StatusOr<std::unique_ptr<ModelRunner>> SavedModelRunner(const std::string& dir,
                                                        bool probabilities) {
  ASSIGN_OR_RETURN(auto loaded, serving::LoadedModel::Load(dir));
  auto signature = loaded->signatures().find("serving_default");
  if (signature == loaded->signatures().end() || signature->second.inputs().size() != 1) {
    return FailedPreconditionError(dir + " has no serving_default signature with one input");
  }
  const auto& [input_key, input_info] = *signature->second.inputs().begin();
  int64_t input_size = 1;
  const auto& dims = input_info.tensor_shape().dim();
  for (int i = 1; i < dims.size(); ++i) {
    input_size = dims[i].size() < 0 || input_size < 0 ? -1 : input_size * dims[i].size();
  }
  if (dims.size() < 2) input_size = -1;  // unknown rank: the runtime checks the shape
  const std::string output_key = probabilities ? "probabilities" : "output_0";
  if (signature->second.outputs().count(output_key) == 0) {
    return InvalidArgumentError(
        dir + ": serving_default has no '" + output_key + "' output" +
        (probabilities ? " (the model is not a from-logits classifier; omit --probabilities)"
                       : ""));
  }
  return std::unique_ptr<ModelRunner>(
      new SavedModelRun(std::move(loaded), input_key, input_size, output_key));
}

StatusOr<std::vector<float>> RunInBatches(ModelRunner& runner, const ModelInputs& inputs,
                                          int64_t batch_size, int64_t* output_size) {
  if (runner.input_size() >= 0 && inputs.row_size != runner.input_size()) {
    return InvalidArgumentError(inputs.source + ": examples of shape " + inputs.shape + " (" +
                                std::to_string(inputs.row_size) +
                                " values each), but the model takes (N, " +
                                std::to_string(runner.input_size()) + ")");
  }
  if (inputs.rows == 0) return InvalidArgumentError(inputs.source + ": no examples");
  const int64_t batch = std::min(batch_size, runner.max_batch());
  const int64_t width = inputs.row_size;
  std::vector<float> x, outputs;
  const bool as_read = inputs.pixels.empty() && inputs.scale == 1.0f && inputs.offset == 0.0f;
  for (int64_t start = 0; start < inputs.rows; start += batch) {
    const int64_t rows = std::min(batch, inputs.rows - start);
    const float* batch_x = nullptr;
    if (as_read) {
      batch_x = inputs.values.data() + start * width;
    } else {
      x.resize(static_cast<size_t>(rows * width));
      ScaleRows(inputs, start * width, &x);
      batch_x = x.data();
    }
    ASSIGN_OR_RETURN(std::vector<float> out, runner.Run(batch_x, rows));
    if (out.size() % static_cast<size_t>(rows) != 0) {
      return InternalError(inputs.source + ": the model gave " + std::to_string(out.size()) +
                           " values for " + std::to_string(rows) + " examples");
    }
    *output_size = static_cast<int64_t>(out.size()) / rows;
    outputs.insert(outputs.end(), out.begin(), out.end());
  }
  return outputs;
}

}  // namespace shardtrain::cli
