// `shardtrain evaluate CONFIG`: loss and accuracy of a trained model on the
// test split (one process). The weights come from a checkpoint (default: the
// run directory's latest) or a Keras file (--keras, matched by layer name);
// --saved-model instead runs an exported SavedModel with our serving runtime.
// --predictions writes the model's outputs (logits for a from-logits model) as .npy.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_runner.h"
#include "cli/model_setup.h"
#include "common/flags.h"
#include "storage/arrays/npy_file.h"
#include "worker/data/dataset.h"

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

// Mean loss and accuracy of precomputed outputs, with the job's loss.
StatusOr<EvalResult> ScoreOutputs(const ModelJob& job, const data::Dataset& test,
                                  const std::vector<float>& outputs) {
  const int64_t classes = job.trainer->model().output_size();
  if (static_cast<int64_t>(outputs.size()) != test.num_examples * classes) {
    return FailedPreconditionError("the model gave " + std::to_string(outputs.size()) +
                                   " values for " + std::to_string(test.num_examples) +
                                   " examples of " + std::to_string(classes) + " classes");
  }
  const config::LossConfig& loss = job.config.loss();
  const bool logits = loss.has_sparse_categorical_crossentropy() &&
                      loss.sparse_categorical_crossentropy().from_logits();
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < test.num_examples; ++i) {
    const float* row = outputs.data() + i * classes;
    const int32_t label = test.labels[static_cast<size_t>(i)];
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) best = row[c] > row[best] ? c : best;
    correct += best == label ? 1 : 0;
    if (logits) {
      double max = row[best], sum = 0;
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(row[c]) - max);
      loss_sum += std::log(sum) + max - row[label];
    } else {
      loss_sum += -std::log(std::max(static_cast<double>(row[label]), 1e-7));
    }
  }
  EvalResult result;
  result.examples = test.num_examples;
  result.loss = loss_sum / static_cast<double>(test.num_examples);
  result.accuracy = static_cast<double>(correct) / static_cast<double>(test.num_examples);
  return result;
}

}  // namespace

Status RunEvaluate(const std::vector<std::string>& args) {
  JobOverrides overrides;
  ModelSource source;
  std::optional<std::string> predictions;
  bool json = false;
  FlagSet flags("shardtrain evaluate", "shardtrain evaluate CONFIG [--checkpoint PREFIX|DIR] [flags]",
                "Evaluates the model of CONFIG on its test split: mean loss and accuracy over\n"
                "every test example, in one process on the CPU.");
  source.AddFlags(flags);
  flags.String("data", &overrides.data_dir, "directory of TFRecord shards (data.dir)");
  flags.String("run-dir", &overrides.run_dir, "run directory (training.run_dir)");
  flags.Int("test-examples", &overrides.test_examples, "first N test examples only (0 = all)");
  flags.String("model-json", &overrides.model_json, "architecture from a Keras model JSON");
  flags.String("predictions", &predictions,
               "also write the model's outputs (examples x classes, float32) to this .npy file");
  flags.Bool("json", &json, "print {\"loss\": ..., \"accuracy\": ..., \"examples\": ...} instead");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (flags.positional().size() != 1) {
    return InvalidArgumentError("expected exactly one CONFIG file; see `shardtrain evaluate --help`");
  }
  ASSIGN_OR_RETURN(ModelJob job, BuildModelJob(flags.positional()[0], overrides));
  RETURN_IF_ERROR(source.Check());
  const config::DataConfig& data = job.config.data();
  ASSIGN_OR_RETURN(data::Dataset test,
                   data::LoadSplit(data.dir(), "test", data.test_examples(), data.num_classes()));
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
    std::snprintf(line, sizeof(line), "{\"loss\": %.17g, \"accuracy\": %.17g, \"examples\": %lld}",
                  result.loss, result.accuracy, static_cast<long long>(result.examples));
    std::cout << line << std::endl;
  } else {
    std::cout << std::fixed << std::setprecision(4) << "test accuracy: " << result.accuracy
              << "  test loss: " << result.loss << "  (" << result.examples << " examples)"
              << std::endl;
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
