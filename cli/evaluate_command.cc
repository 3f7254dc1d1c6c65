// `shardtrain evaluate CONFIG`: loss and accuracy of a trained model on the
// test split (one process), with weights from a checkpoint (default: the run
// directory's latest); --predictions writes the model's outputs as .npy.
#include <cstdio>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_setup.h"
#include "common/flags.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/data/dataset.h"

namespace shardtrain::cli {

Status RunEvaluate(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<std::string> checkpoint_path, predictions;
  bool json = false;
  FlagSet flags("shardtrain evaluate", "shardtrain evaluate CONFIG [--checkpoint PREFIX|DIR] [flags]",
                "Evaluates the model of CONFIG on its test split: mean loss and accuracy over\n"
                "every test example, in one process on the CPU.");
  flags.String("checkpoint", &checkpoint_path,
               "checkpoint prefix or directory (default: RUN_DIR/checkpoints, its latest)");
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
  const std::string source =
      checkpoint_path ? *checkpoint_path : checkpoint::CheckpointDir(job.config);
  RETURN_IF_ERROR(RestoreFromCheckpoint(source, job));
  const config::DataConfig& data = job.config.data();
  ASSIGN_OR_RETURN(data::Dataset test,
                   data::LoadSplit(data.dir(), "test", data.test_examples(), data.num_classes()));
  ASSIGN_OR_RETURN(EvalResult result, job.trainer->Evaluate(test));
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
    ASSIGN_OR_RETURN(std::vector<float> outputs, job.trainer->Predict(test));
    const int64_t classes = job.trainer->model().output_size();
    RETURN_IF_ERROR(WriteNpy(*predictions, outputs, test.num_examples, classes));
    std::cout << "wrote " << *predictions << " (" << test.num_examples << " x " << classes
              << " float32)" << std::endl;
  }
  return OkStatus();
}

}  // namespace shardtrain::cli
