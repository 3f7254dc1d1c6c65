// `shardtrain train CONFIG`: load and validate the job config, apply flag
// overrides, load the data, train, and report the final test accuracy.
#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/flags.h"
#include "kernels/backend.h"
#include "worker/callbacks/metrics_log.h"
#include "worker/callbacks/progress.h"
#include "worker/data/dataset.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::cli {
namespace {

StatusOr<std::unique_ptr<kernels::KernelBackend>> BackendFor(const std::string& device) {
  if (device == "cuda") return kernels::CreateBackend(Device::kCuda);
  if (device == "auto") {
    auto cuda = kernels::CreateBackend(Device::kCuda);
    if (cuda.ok()) return cuda;
  }
  return kernels::CreateBackend(Device::kCpu);
}

}  // namespace

Status RunTrain(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<int64_t> verbose;
  bool no_resume = false;
  FlagSet flags("shardtrain train", "shardtrain train CONFIG [flags]",
                "Trains the model described by the job config CONFIG (a text protobuf, see\n"
                "configs/fashion_mlp.textproto and proto/config.proto). Flags override the file.");
  flags.String("data", &overrides.data_dir, "directory of TFRecord shards (data.dir)");
  flags.String("run-dir", &overrides.run_dir, "where logs go (training.run_dir)");
  flags.Int("epochs", &overrides.epochs, "number of epochs (training.epochs)");
  flags.Int("batch-size", &overrides.batch_size, "global batch size (training.batch_size)");
  flags.Int("train-examples", &overrides.train_examples,
            "train on the first N examples only (data.train_examples; 0 = all)");
  flags.UInt("seed", &overrides.seed, "seed for init, shuffling and dropout (training.seed)");
  flags.Float("learning-rate", &overrides.learning_rate,
              "optimizer learning rate (optimizer.learning_rate)");
  flags.String("device", &overrides.device, "cpu, cuda or auto (training.device)");
  flags.Int("verbose", &verbose,
            "0 silent, 1 live progress bar, 2 one line per epoch (default: 1 on a TTY, else 2)");
  flags.Bool("no-resume", &no_resume,
             "start from scratch; the run directory's metrics log is rewritten (runs always "
             "start fresh until checkpoints exist)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (flags.positional().size() != 1) {
    return InvalidArgumentError("expected exactly one CONFIG file, got " +
                                std::to_string(flags.positional().size()) +
                                " arguments; see `shardtrain train --help`");
  }
  int verbosity = verbose ? static_cast<int>(*verbose) : (isatty(STDOUT_FILENO) ? 1 : 2);
  if (verbosity < 0 || verbosity > 2) {
    return InvalidArgumentError("--verbose must be 0, 1 or 2");
  }

  ASSIGN_OR_RETURN(config::JobConfig config, LoadJobConfig(flags.positional()[0]));
  ApplyOverrides(overrides, &config);
  RETURN_IF_ERROR(ValidateJobConfig(&config).WithContext(flags.positional()[0]));

  // The run directory is checked before any expensive work.
  ASSIGN_OR_RETURN(auto metrics_log,
                   callbacks::MetricsLog::Open(config.training().run_dir(), /*append=*/false));
  ASSIGN_OR_RETURN(auto backend, BackendFor(config.training().device()));

  const config::DataConfig& data = config.data();
  ASSIGN_OR_RETURN(data::Dataset train,
                   data::LoadSplit(data.dir(), "train", data.train_examples(), data.num_classes()));
  ASSIGN_OR_RETURN(data::Dataset test,
                   data::LoadSplit(data.dir(), "test", data.test_examples(), data.num_classes()));

  ASSIGN_OR_RETURN(auto trainer, Trainer::Create(config, backend.get()));
  callbacks::Progress progress(&std::cout, verbosity);
  RETURN_IF_ERROR(trainer->Fit(train, test, {&progress, metrics_log.get()}));

  ASSIGN_OR_RETURN(EvalResult result, trainer->Evaluate(test));
  std::cout << std::fixed << std::setprecision(4) << "test accuracy: " << result.accuracy
            << "  test loss: " << result.loss << "  (" << result.examples
            << " examples; metrics in " << metrics_log->path() << ")" << std::endl;
  return OkStatus();
}

}  // namespace shardtrain::cli
