// `shardtrain coordinator CONFIG --listen HOST:PORT --world-size N`: a
// standalone control plane for workers started with `--coordinator HOST:PORT`.
// It plans from the same config and data as the workers (a streamed job's
// training files are indexed here, not loaded), serves until every rank said
// Done (exit 0) or the job was aborted (exit 1 with the reason).
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/control_plane.h"
#include "common/flags.h"
#include "coordinator/coordinator.h"
#include "worker/data/dataset.h"
#include "worker/data/job_data.h"
#include "worker/job_config.h"

namespace shardtrain::cli {
namespace {

// Reads the token from `path`, or writes a new random one there (mode 0600).
StatusOr<std::string> LoadOrCreateToken(const std::string& path) {
  std::string token;
  if (std::ifstream in(path); in && (in >> token)) return token;
  token = coordinator::GenerateJobToken();
  std::ofstream file(path, std::ios::trunc);
  if (!(file << token << "\n")) {
    return PermissionDeniedError("cannot write the job token file '" + path + "'");
  }
  file.close();
  chmod(path.c_str(), 0600);
  return token;
}

// What the coordinator plans from: the training split in memory
// (data.in_memory), or the index of the streamed training files.
struct TrainingSource {
  data::Dataset in_memory;
  data::TrainingIndex index;
  bool streaming = false;
  JobTrainingData data() const {
    return streaming ? JobTrainingData{nullptr, &index} : JobTrainingData{&in_memory, nullptr};
  }
};

// Loads or indexes the job's training data as the ranks will train on it
// (validation_split's part cut off, train_command.cc); prints the warnings.
StatusOr<TrainingSource> LoadTrainingSource(const config::JobConfig& config) {
  TrainingSource source;
  source.streaming = !config.data().in_memory();
  if (source.streaming) {
    ASSIGN_OR_RETURN(source.index, data::IndexTrainingData(config));
    for (const std::string& warning : source.index.warnings) {
      std::cerr << "warning: " << warning << "\n";
    }
    return source;
  }
  ASSIGN_OR_RETURN(source.in_memory, data::LoadJobSplit(config, data::DataSplit::kTrain));
  for (const std::string& warning : source.in_memory.warnings) {
    std::cerr << "warning: " << warning << "\n";
  }
  if (config.training().validation_split() > 0) {
    ASSIGN_OR_RETURN(auto parts, data::SplitForValidation(std::move(source.in_memory),
                                                          config.training().validation_split()));
    source.in_memory = std::move(parts.first);
  }
  return source;
}

}  // namespace

Status RunCoordinator(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<std::string> listen, token_file;
  std::optional<int64_t> world_size, http_port;
  std::optional<float> heartbeat_timeout;
  FlagSet flags("shardtrain coordinator",
                "shardtrain coordinator CONFIG --listen HOST:PORT --world-size N [flags]",
                "Runs the job's control plane on its own. Start the workers with\n"
                "`mpirun -np N shardtrain train CONFIG --coordinator HOST:PORT`.");
  flags.String("listen", &listen, "HOST:PORT to listen on (127.0.0.1 unless a token is used)");
  flags.Int("world-size", &world_size, "number of ranks in the job");
  flags.String("data", &overrides.data_dir, "directory of TFRecord shards (data.dir)");
  flags.Int("batch-size", &overrides.batch_size, "global batch size (training.batch_size)");
  flags.Int("train-examples", &overrides.train_examples, "first N examples (data.train_examples)");
  flags.UInt("seed", &overrides.seed, "seed (training.seed)");
  flags.String("job-token-file", &token_file,
               "file with the job token workers must present (created with a random token if "
               "missing); required when listening on a non-loopback address");
  flags.Int("http-port", &http_port, "port of GET /status (default: any free port)");
  flags.Float("heartbeat-timeout", &heartbeat_timeout,
              "seconds a rank may be silent before the job is aborted (default 60)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (flags.positional().size() != 1) return InvalidArgumentError("expected one CONFIG file");
  if (!listen) return InvalidArgumentError("--listen HOST:PORT is required");
  if (!world_size || *world_size < 1) return InvalidArgumentError("--world-size N (>= 1) is required");
  size_t colon = listen->rfind(':');
  if (colon == std::string::npos) return InvalidArgumentError("--listen expects HOST:PORT");
  coordinator::CoordinatorOptions options;
  options.host = listen->substr(0, colon);
  try {
    options.port = std::stoi(listen->substr(colon + 1));
  } catch (...) {
    return InvalidArgumentError("--listen expects HOST:PORT, got '" + *listen + "'");
  }
  ASSIGN_OR_RETURN(config::JobConfig config, LoadJobConfig(flags.positional()[0]));
  ApplyOverrides(overrides, &config);
  RETURN_IF_ERROR(ValidateJobConfig(&config).WithContext(flags.positional()[0]));
  options.world_size = static_cast<int>(*world_size);
  RETURN_IF_ERROR(CheckStreamingWorldSize(config, options.world_size));
  ASSIGN_OR_RETURN(const TrainingSource train, LoadTrainingSource(config));
  SetCoordinatorPlan(config, train.data(), &options);
  // The workers' effective epochs may exceed this config's (`train --epochs N`
  // resumes a job to train further), and this coordinator cannot know them:
  // it plans whatever epoch a rank asks for.
  options.epochs = 0;
  if (token_file) {
    ASSIGN_OR_RETURN(options.job_token, LoadOrCreateToken(*token_file));
  }
  options.http_port = http_port ? static_cast<int>(*http_port) : 0;
  if (heartbeat_timeout) options.heartbeat_timeout_seconds = *heartbeat_timeout;
  ASSIGN_OR_RETURN(auto coordinator, coordinator::Coordinator::Start(options));
  std::cout << "coordinator listening on " << options.host << ":" << coordinator->port()
            << " for " << options.world_size << " ranks; status at http://" << options.host
            << ":" << coordinator->http_port() << "/status" << std::endl;
  while (!coordinator->all_done() && !coordinator->aborted()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (coordinator->aborted()) {
    // Keep answering a little longer, so every rank learns the reason from a
    // heartbeat reply instead of only seeing the coordinator vanish.
    for (int i = 0; i < 100 && !coordinator->all_disconnected(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return AbortedError("job aborted: " + coordinator->abort_reason());
  }
  std::cout << "all " << options.world_size << " ranks finished" << std::endl;
  return OkStatus();
}

}  // namespace shardtrain::cli
