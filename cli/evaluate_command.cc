// `shardtrain evaluate CONFIG`: loss, accuracy and the job's metrics of a
// trained model on the test split (data.validation_files, or data.dir's test
// shards; one process), computed as training's own
// evaluation computes them (loss::Loss, metrics::MetricSet). The weights come
// from a checkpoint (default: the run directory's latest) or a Keras file
// (--keras, matched by layer name); --saved-model instead runs an exported
// SavedModel with our serving runtime (its loss has no kernel regularizer
// penalty: the SavedModel's weights stay in the runtime).
// --predictions writes the model's outputs (logits for a from-logits model) as .npy.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <limits>

#include "cli/commands.h"
#include "cli/model_runner.h"
#include "cli/model_setup.h"
#include "common/flags.h"
#include "storage/arrays/npy_file.h"
#include "worker/data/dataset.h"
#include "worker/data/job_data.h"
#include "worker/loss/loss.h"
#include "worker/metrics/metric_set.h"

namespace shardtrain::cli {
namespace {

// The test split's outputs from the SavedModel at `dir` (our serving runtime).
StatusOr<std::vector<float>> PredictWithSavedModel(const std::string& dir,
                                                   const data::Dataset& test) {
  ASSIGN_OR_RETURN(std::unique_ptr<ModelRunner> runner,
                   SavedModelRunner(dir, /*probabilities=*/false));
  const ModelInputs inputs = InputsFromDataset(test, "the test split");
  int64_t output_size = 0;
  return RunInBatches(*runner, inputs, /*batch_size=*/1024, &output_size);
}

// Rows scored per Loss::Compute call.
constexpr int64_t kScoreBatch = 1024;

// Loss, accuracy and the job's metrics of precomputed outputs (the model's
// final outputs), with the job's loss::Loss and metrics::MetricSet as
// Trainer::Evaluate computes them. A loss that fuses the final softmax reads
// logits: log(probability) is one (same softmax, same ranking).
StatusOr<EvalResult> ScoreOutputs(const ModelJob& job, const data::Dataset& test,
                                  const std::vector<float>& outputs) {
  const model::Model& model = job.trainer->model();
  const int64_t units = model.output_size();
  if (static_cast<int64_t>(outputs.size()) != test.num_examples * units) {
    return FailedPreconditionError("the model gave " + std::to_string(outputs.size()) +
                                   " values for " + std::to_string(test.num_examples) +
                                   " examples of " + std::to_string(units) + " outputs");
  }
  ASSIGN_OR_RETURN(
      loss::Loss loss,
      loss::Loss::Create(*job.backend, job.config,
                         {model.final_activation(), model.final_activation_positions()}, units,
                         kScoreBatch));
  ASSIGN_OR_RETURN(metrics::MetricSet metric_set,
                   metrics::MetricSet::Create(*job.backend, job.config, units, kScoreBatch));
  std::vector<double> metric_sums(static_cast<size_t>(metric_set.num_sums()), 0.0);
  std::vector<float> logits;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < test.num_examples; start += kScoreBatch) {
    const int64_t rows = std::min(kScoreBatch, test.num_examples - start);
    const float* batch = outputs.data() + start * units;
    if (loss.fuses_final_softmax()) {
      logits.resize(static_cast<size_t>(rows * units));
      for (size_t i = 0; i < logits.size(); ++i) {
        logits[i] = std::log(std::max(batch[i], std::numeric_limits<float>::min()));
      }
      batch = logits.data();
    }
    const loss::Targets targets = data::TargetsOf(test, start);
    ASSIGN_OR_RETURN(const double batch_loss,
                     loss.Compute(*job.backend, batch, targets, rows, nullptr, 1.0));
    ASSIGN_OR_RETURN(const int64_t batch_correct,
                     metric_set.CorrectCount(*job.backend, batch, targets, rows));
    loss_sum += batch_loss;
    correct += batch_correct;
    RETURN_IF_ERROR(metric_set.Accumulate(*job.backend, batch, targets, rows, metric_sums.data()));
  }
  EvalResult result;
  result.examples = test.num_examples;
  result.loss = loss_sum / static_cast<double>(test.num_examples);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(test.num_examples);
  metric_set.AppendLogs(metric_sums.data(), metrics::Totals{result.examples, correct}, "",
                        &result.metrics);
  return result;
}

// The job's metrics other than accuracy, which is printed anyway.
metrics::Logs OtherMetrics(const EvalResult& result) {
  metrics::Logs others;
  for (const auto& entry : result.metrics) {
    if (entry.first != "accuracy") others.push_back(entry);
  }
  return others;
}

}  // namespace

Status RunEvaluate(const std::vector<std::string>& args) {
  JobOverrides overrides;
  ModelSource source;
  std::optional<std::string> predictions;
  bool json = false;
  FlagSet flags("shardtrain evaluate",
                "shardtrain evaluate CONFIG [--checkpoint PREFIX|DIR] [flags]",
                "Evaluates the model of CONFIG on its test split: mean loss, accuracy and the\n"
                "job's metrics over every test example, in one process on the CPU.");
  source.AddFlags(flags);
  flags.String("data", &overrides.data_dir, "directory of TFRecord shards (data.dir)");
  flags.String("run-dir", &overrides.run_dir, "run directory (training.run_dir)");
  flags.Int("test-examples", &overrides.test_examples, "first N test examples only (0 = all)");
  flags.String("model-json", &overrides.model_json, "architecture from a Keras model JSON");
  flags.String("predictions", &predictions,
               "also write the model's outputs (examples x classes, float32) to this .npy file");
  flags.Bool("json", &json,
             "print {\"loss\": ..., \"accuracy\": ..., METRIC: ..., \"examples\": ...} instead");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (flags.positional().size() != 1) {
    return InvalidArgumentError(
        "expected exactly one CONFIG file; see `shardtrain evaluate --help`");
  }
  ASSIGN_OR_RETURN(ModelJob job, BuildModelJob(flags.positional()[0], overrides));
  RETURN_IF_ERROR(source.Check());
  ASSIGN_OR_RETURN(data::Dataset test,
                   data::LoadJobSplit(job.config, data::DataSplit::kValidation));
  for (const std::string& warning : test.warnings) std::cerr << "warning: " << warning << "\n";
  EvalResult result;
  std::vector<float> outputs;
  const int64_t classes = job.trainer->model().output_size();
  if (source.saved_model) {
    ASSIGN_OR_RETURN(outputs, PredictWithSavedModel(*source.saved_model, test));
    ASSIGN_OR_RETURN(result, ScoreOutputs(job, test, outputs));
  } else {
    RETURN_IF_ERROR(LoadModelWeights(source.checkpoint, source.keras_file, job));
    ASSIGN_OR_RETURN(result, job.trainer->Evaluate(test));
    if (predictions) {
      ASSIGN_OR_RETURN(outputs, job.trainer->Predict(test));
    }
  }
  if (json) {
    char line[256];
    std::snprintf(line, sizeof(line), "{\"loss\": %.17g", result.loss);
    std::cout << line;
    if (result.logs_accuracy()) {
      std::snprintf(line, sizeof(line), ", \"accuracy\": %.17g", result.accuracy);
      std::cout << line;
    }
    for (const auto& [name, value] : OtherMetrics(result)) {
      std::snprintf(line, sizeof(line), ", \"%s\": %.17g", name.c_str(), value);
      std::cout << line;
    }
    std::cout << ", \"examples\": " << result.examples << "}" << std::endl;
  } else {
    std::cout << std::fixed << std::setprecision(4);
    if (result.logs_accuracy()) std::cout << "test accuracy: " << result.accuracy << "  ";
    std::cout << "test loss: " << result.loss;
    for (const auto& [name, value] : OtherMetrics(result)) {
      std::cout << "  test " << name << ": " << value;
    }
    std::cout << "  (" << result.examples << " examples)" << std::endl;
  }
  if (predictions) {
    RETURN_IF_ERROR(storage::WriteNpy(*predictions, outputs, test.num_examples, classes));
    if (!json) {
      std::cout << "wrote " << *predictions << " (" << test.num_examples << " x " << classes
                << " float32)" << std::endl;
    }
  }
  return OkStatus();
}

}  // namespace shardtrain::cli
