// shardtrain: entry point. Dispatches to a subcommand and turns its Status
// into an error message and exit code (2: bad usage or input, 1: other errors).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/error_line.h"
#include "common/status.h"

namespace {

constexpr char kUsage[] =
    "usage: shardtrain COMMAND [args]\n"
    "\n"
    "Data-parallel training with TensorFlow-format checkpoints.\n"
    "\n"
    "commands:\n"
    "  train CONFIG       train the model a job config describes (configs/*.textproto);\n"
    "                     under `mpirun -np N` every rank is a data-parallel worker\n"
    "  evaluate CONFIG    loss and accuracy of a trained model on the test split\n"
    "  predict            a trained model's outputs for examples (TFRecord, .npy, CSV)\n"
    "  export             write a trained model as a SavedModel, .keras, .h5, .weights.h5 or JSON\n"
    "  serve              TensorFlow Serving REST API for exported SavedModels\n"
    "  coordinator CONFIG run a job's control plane on its own (--listen HOST:PORT)\n"
    "  data prepare       write TFRecord shards from Fashion-MNIST's idx files, .npy/.npz\n"
    "                     arrays or CSV, and the config block that reads them\n"
    "  data inspect FILE  the features of a TFRecord file's first records (--count)\n"
    "  inspect PREFIX|DIR list a checkpoint's tensors (--key KEY / --values print values)\n"
    "\n"
    "`shardtrain COMMAND --help` describes every flag of a command.\n";

int ExitCode(const shardtrain::Status& status) {
  switch (status.code()) {
    case shardtrain::StatusCode::kOk: return 0;
    case shardtrain::StatusCode::kInvalidArgument: return 2;
    default: return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  shardtrain::Status status;
  bool error_reported = false;
  if (command == "train") {
    status = shardtrain::cli::RunTrain(args, &error_reported);
  } else if (command == "serve") {
    status = shardtrain::cli::RunServe(args);
  } else if (command == "export") {
    status = shardtrain::cli::RunExport(args);
  } else if (command == "evaluate") {
    status = shardtrain::cli::RunEvaluate(args);
  } else if (command == "predict") {
    status = shardtrain::cli::RunPredict(args);
  } else if (command == "coordinator") {
    status = shardtrain::cli::RunCoordinator(args);
  } else if (command == "data") {
    status = shardtrain::cli::RunData(args);
  } else if (command == "inspect") {
    status = shardtrain::cli::RunInspect(args);
  } else {
    std::cerr << "shardtrain: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  }
  if (!status.ok() && !error_reported) {
    shardtrain::cli::WriteErrorLine("shardtrain " + command + ": error: " + status.ToString());
  }
  return ExitCode(status);
}
