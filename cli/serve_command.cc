// `shardtrain serve --model_name NAME --model_base_path DIR` or
// `shardtrain serve --model_config_file FILE`: a TensorFlow Serving–compatible
// REST server for exported SavedModels (serving/). With a base path it serves
// the newest complete numeric version under DIR; a model config file (TF
// Serving's text format, serving/model_config.h) names several models, each
// with its version policy and version labels. New versions are picked up
// every --poll-seconds; it runs until SIGINT or SIGTERM.
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "common/flags.h"
#include "serving/model_config.h"
#include "serving/model_manager.h"
#include "serving/rest_server.h"
#include "serving/served_models.h"

namespace shardtrain::cli {
namespace {

// "serving model NAME from DIR at URL (versions 1, 2; policy latest 2)".
void PrintServing(const serving::ModelManager& model, const std::string& host, int port) {
  std::string versions;
  for (int64_t v : model.ServedVersions())
    versions += (versions.empty() ? "" : ", ") + std::to_string(v);
  std::cout << "serving model " << model.name() << " from " << model.options().base_path
            << " at http://" << host << ":" << port << "/v1/models/" << model.name()
            << (versions.empty()
                    ? " (no version loaded yet)"
                    : " (version" +
                          std::string(versions.find(',') == std::string::npos ? "" : "s") + " " +
                          versions + ")")
            << std::endl;
}

}  // namespace

Status RunServe(const std::vector<std::string>& args) {
  std::optional<std::string> name, base_path, config_file, host;
  std::optional<int64_t> port, threads, max_body_bytes, max_batch_rows;
  bool enable_batching = false;
  std::optional<float> poll_seconds;
  FlagSet flags(
      "shardtrain serve",
      "shardtrain serve (--model_name NAME --model_base_path DIR | --model_config_file FILE)"
      " [--port 8501]",
      "Serves SavedModel versions with TensorFlow Serving's REST API:\n"
      "POST /v1/models/NAME[/versions/N|/labels/L]:predict|:classify|:regress,\n"
      "GET /v1/models/NAME[/versions/N|/labels/L][/metadata], GET /metrics.");
  flags.String("model_name", &name, "the model's name in the URLs");
  flags.String("model_base_path", &base_path, "directory of numeric version subdirectories");
  flags.String("model_config_file", &config_file,
               "TF Serving model config (text-format ModelServerConfig: model_config_list of "
               "models with name, base_path, model_version_policy, version_labels)");
  flags.Int("port", &port, "REST port (default 8501; 0: any free port, printed)");
  flags.String("host", &host, "address to listen on (default 127.0.0.1)");
  flags.Float("poll-seconds", &poll_seconds, "how often to look for new versions (default 2)");
  flags.Int("max-body-bytes", &max_body_bytes, "largest request body accepted (default 64 MiB)");
  flags.Int("threads", &threads, "request threads (default: the number of cores)");
  flags.Bool("enable_batching", &enable_batching,
             "concurrent predicts share model runs (only for models whose rows are "
             "independent, as in TensorFlow Serving)");
  flags.Int("max-batch-rows", &max_batch_rows,
            "with --enable_batching: most rows in one model run (default 64)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (config_file && (name || base_path)) {
    return InvalidArgumentError(
        "--model_config_file names the models; drop --model_name and --model_base_path");
  }
  if (!config_file && (!name || name->empty() || !base_path)) {
    return InvalidArgumentError(
        "serve needs --model_name and --model_base_path, or --model_config_file");
  }
  serving::RestServerOptions options;
  options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (host) options.host = *host;
  if (port) {
    if (*port < 0 || *port > 65535) return InvalidArgumentError("--port must be in [0, 65535]");
    options.port = static_cast<int>(*port);
  }
  if (threads) {
    if (*threads < 1 || *threads > 256) return InvalidArgumentError("--threads must be in [1, 256]");
    options.threads = static_cast<int>(*threads);
  }
  if (max_body_bytes) {
    if (*max_body_bytes < 1) return InvalidArgumentError("--max-body-bytes must be positive");
    options.max_body_bytes = static_cast<size_t>(*max_body_bytes);
  }
  if (max_batch_rows && !enable_batching) {
    return InvalidArgumentError("--max-batch-rows needs --enable_batching");
  }
  if (enable_batching) {
    options.max_batch_rows = max_batch_rows.value_or(64);
    if (options.max_batch_rows < 1) return InvalidArgumentError("--max-batch-rows must be >= 1");
  }
  const double poll = poll_seconds ? *poll_seconds : 2.0;
  if (!(poll > 0)) return InvalidArgumentError("--poll-seconds must be > 0");

  // SIGINT/SIGTERM are waited for below, so no server thread may take them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<serving::ModelOptions> configs;
  if (config_file) {
    ASSIGN_OR_RETURN(configs, serving::ReadModelServerConfig(*config_file));
  } else {
    configs.push_back({*name, *base_path, {}, {}, poll});
  }
  std::vector<std::unique_ptr<serving::ModelManager>> managers;
  for (serving::ModelOptions& config : configs) {
    config.poll_seconds = poll;
    managers.push_back(std::make_unique<serving::ModelManager>(std::move(config)));
  }
  serving::ServedModels models(std::move(managers));
  models.Start();
  ASSIGN_OR_RETURN(auto server, serving::RestServer::Start(options, &models));
  for (const auto& model : models.models()) PrintServing(*model, options.host, server->port());
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cout << "serve: stopping (signal " << signal_number << ")" << std::endl;
  server->Stop();
  models.Stop();
  return OkStatus();
}

}  // namespace shardtrain::cli
