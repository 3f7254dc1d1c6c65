// `shardtrain train CONFIG`: load and validate the job config, apply flag
// overrides, load the data, train (one process, or every rank of an mpirun
// job), and report the final test accuracy.
//
// Under mpirun every rank runs this. Ranks first do their local setup (config,
// data, run directory on rank 0) and then agree, in one collective, that all
// of them succeeded: a rank that failed prints its own error and the others
// name it, so no rank is left waiting in a collective. After that, an error on
// any rank ends the whole job through MPI_Abort.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/commands.h"
#include "common/flags.h"
#include "common/logging.h"
#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "coordinator/shard_planner.h"
#include "kernels/backend.h"
#include "worker/callbacks/csv_logger.h"
#include "worker/callbacks/metrics_log.h"
#include "worker/callbacks/progress.h"
#include "worker/callbacks/tensorboard.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/restore_on_all_ranks.h"
#include "worker/model/keras_weights.h"
#include "worker/comm/communicator_factory.h"
#include "worker/comm/mpi_runtime.h"
#include "worker/data/dataset.h"
#include "worker/job_config.h"
#include "worker/job_monitor.h"
#include "worker/preemption.h"
#include "storage/checkpoint/commit.h"
#include "storage/checkpoint/state_file.h"
#include "storage/checkpoint/verify.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
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

// This rank's slice of every global batch, from the coordinator's job plan
// through the pure planner (coordinator/shard_planner.h).
class ShardPlanner : public EpochPlanner {
 public:
  ShardPlanner(const coordinator::JobPlan& plan, int rank, int world_size)
      : plan_(plan),
        shard_sizes_(plan.shard_sizes().begin(), plan.shard_sizes().end()),
        rank_(rank),
        world_size_(world_size) {}

  StatusOr<EpochPlan> Plan(int64_t epoch, int64_t start_position) override {
    coordinator::RankAssignment a =
        coordinator::AssignEpoch(plan_.seed(), epoch, shard_sizes_, plan_.shuffle(),
                                 plan_.global_batch(), start_position, rank_, world_size_);
    return EpochPlan{a.epoch, a.first_step, std::move(a.example_ids), std::move(a.step_counts),
                     std::move(a.step_offsets)};
  }

 private:
  coordinator::JobPlan plan_;
  std::vector<int64_t> shard_sizes_;
  int rank_;
  int world_size_;
};

// How ranks find the coordinator, from the flags.
struct ControlPlaneOptions {
  std::optional<std::string> coordinator;  // HOST:PORT of a standalone one
  std::optional<std::string> token_file;
  double heartbeat_timeout_seconds = 60;
  int http_port = 0;
};

// Where a run starts from, from the flags.
struct ResumeOptions {
  std::optional<std::string> init_from;  // --init-from FILE (Keras weights, when not resuming)
  std::optional<std::string> restore;  // --restore PREFIX
  bool no_resume = false;               // --no-resume
  bool allow_config_change = false;     // --allow-config-change
};

// Everything a rank prepares before the first collective.
struct Job {
  config::JobConfig config;
  // Rank 0: the checkpoints to try to resume from, newest first (none: a fresh
  // start); with `fall_back`, a damaged one is skipped for the next.
  std::vector<std::string> resume_candidates;
  bool fall_back = false;
  std::unique_ptr<kernels::KernelBackend> backend;
  std::unique_ptr<callbacks::MetricsLog> metrics_log;  // rank 0 only
  std::unique_ptr<callbacks::TensorBoardLogger> tensorboard;  // rank 0 only
  data::Dataset train;
  data::Dataset test;
};

// Rank 0: which checkpoints the run may resume from (Job::resume_candidates),
// after sweeping what an interrupted save left in the checkpoint directory.
// They are verified as they are restored (Restore below), not read twice.
Status FindResumeCandidates(const config::JobConfig& config, const ResumeOptions& resume,
                            Job* job) {
  storage::FileSystem* fs = storage::PosixFileSystem();
  const std::string dir = checkpoint::CheckpointDir(config);
  ASSIGN_OR_RETURN(std::vector<std::string> swept, storage::SweepUnfinishedCheckpoints(fs, dir));
  for (const std::string& name : swept) {
    LOG(WARNING) << "removed " << storage::JoinPath(dir, name) << " (left by an unfinished save)";
  }
  if (resume.restore) {
    if (!fs->FileExists(*resume.restore + ".index")) {
      return NotFoundError("--restore " + *resume.restore + ": " + *resume.restore +
                           ".index does not exist (pass a checkpoint prefix such as " +
                           storage::JoinPath(dir, "ckpt-100") + ")");
    }
    job->resume_candidates = {*resume.restore};
    return OkStatus();
  }
  if (resume.no_resume || !fs->FileExists(storage::JoinPath(dir, storage::kCheckpointStateFile))) {
    return OkStatus();
  }
  ASSIGN_OR_RETURN(job->resume_candidates, storage::CheckpointCandidates(fs, dir));
  job->fall_back = true;
  return OkStatus();
}

Status SetUp(const std::string& config_path, const JobOverrides& overrides,
             const ResumeOptions& resume, int64_t log_every_steps, int rank, Job* job) {
  ASSIGN_OR_RETURN(job->config, LoadJobConfig(config_path));
  ApplyOverrides(overrides, &job->config);
  RETURN_IF_ERROR(ValidateJobConfig(&job->config).WithContext(config_path));
  if (rank == 0) {  // the run directory is checked before any expensive work
    RETURN_IF_ERROR(FindResumeCandidates(job->config, resume, job));
    ASSIGN_OR_RETURN(job->metrics_log,
                     callbacks::MetricsLog::Open(job->config.training().run_dir(),
                                                 /*append=*/!job->resume_candidates.empty()));
    ASSIGN_OR_RETURN(job->tensorboard, callbacks::TensorBoardLogger::Open(
                                           job->config.training().run_dir(), log_every_steps));
  }
  const std::string checkpoint_dir = checkpoint::CheckpointDir(job->config);
  RETURN_IF_ERROR(storage::PosixFileSystem()->CreateDirs(checkpoint_dir).WithContext(
      "cannot create the checkpoint directory " + checkpoint_dir +
      "; choose a writable place with --run-dir"));
  ASSIGN_OR_RETURN(job->backend, BackendFor(job->config.training().device()));
  const config::DataConfig& data = job->config.data();
  ASSIGN_OR_RETURN(job->train,
                   data::LoadSplit(data.dir(), "train", data.train_examples(), data.num_classes()));
  ASSIGN_OR_RETURN(job->test,
                   data::LoadSplit(data.dir(), "test", data.test_examples(), data.num_classes()));
  return OkStatus();
}

// One collective in which every rank learns which ranks failed their setup.
Status AgreeOnSetup(comm::Communicator& comm, const Status& local) {
  std::vector<double> failed(static_cast<size_t>(comm.world_size()), 0.0);
  if (!local.ok()) failed[static_cast<size_t>(comm.rank())] = 1.0;
  for (size_t begin = 0; begin < failed.size(); begin += comm::Communicator::kMaxHostScalars) {
    int count = static_cast<int>(
        std::min<size_t>(comm::Communicator::kMaxHostScalars, failed.size() - begin));
    RETURN_IF_ERROR(comm.AllReduceSumHostScalars(failed.data() + begin, count));
  }
  if (!local.ok()) return local;
  std::string ranks;
  for (size_t r = 0; r < failed.size(); ++r) {
    if (failed[r] > 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  }
  if (ranks.empty()) return OkStatus();
  return AbortedError("rank(s) " + ranks + " failed to set up; their error is printed above");
}

// Rank 0 starts the in-process coordinator (unless a standalone one is named)
// and tells every rank where it is; each rank then registers with it.
// Returns this rank's client; `*hosted` keeps rank 0's coordinator alive.
StatusOr<std::unique_ptr<coordinator::CoordinatorClient>> JoinControlPlane(
    const ControlPlaneOptions& options, const Job& job, comm::Communicator& comm,
    std::unique_ptr<coordinator::Coordinator>* hosted) {
  std::string host = "127.0.0.1", token;
  int port = 0;
  if (options.token_file) {
    std::ifstream in(*options.token_file);
    if (!(in >> token)) {
      return NotFoundError("cannot read a job token from --job-token-file '" + *options.token_file +
                           "'");
    }
  } else if (const char* env = std::getenv("SHARDTRAIN_JOB_TOKEN")) {
    token = env;
  }
  if (options.coordinator) {
    const std::string& address = *options.coordinator;
    size_t colon = address.rfind(':');
    char* end = nullptr;
    long parsed =
        colon == std::string::npos ? -1 : std::strtol(address.c_str() + colon + 1, &end, 10);
    if (parsed <= 0 || parsed > 65535 || *end != '\0') {
      return InvalidArgumentError("--coordinator expects HOST:PORT, got '" + address + "'");
    }
    host = address.substr(0, colon);
    port = static_cast<int>(parsed);
  } else {
    // Rank 0 hosts it on loopback; port and token travel to the others over MPI.
    struct {
      int32_t port;
      char token[64];
    } where{};
    if (comm.rank() == 0) {
      coordinator::CoordinatorOptions o;
      o.world_size = comm.world_size();
      o.job_token = token.empty() ? coordinator::GenerateJobToken() : token;
      o.heartbeat_timeout_seconds = options.heartbeat_timeout_seconds;
      o.http_port = options.http_port;
      o.seed = job.config.training().seed();
      o.shuffle = job.config.training().shuffle();
      o.global_batch = job.config.training().batch_size();
      o.shard_sizes = job.train.shard_sizes;
      auto started = coordinator::Coordinator::Start(o);
      if (started.ok()) {
        *hosted = std::move(*started);
        where.port = (*hosted)->port();
        std::snprintf(where.token, sizeof(where.token), "%s", o.job_token.c_str());
        LOG(INFO) << "coordinator on 127.0.0.1:" << where.port
                  << ", status at http://127.0.0.1:" << (*hosted)->http_port() << "/status";
      } else {
        where.port = -1;
        LOG(ERROR) << started.status();
      }
      RETURN_IF_ERROR(comm.Broadcast(&where, sizeof(where), 0));
      if (!started.ok()) return started.status();
    } else {
      RETURN_IF_ERROR(comm.Broadcast(&where, sizeof(where), 0));
      if (where.port < 0) {
        return UnavailableError("rank 0 could not start the coordinator; its error is above");
      }
    }
    port = where.port;
    token = where.token;
  }
  ASSIGN_OR_RETURN(auto client, coordinator::CoordinatorClient::Connect(
                                    host, port, token, comm.rank(), comm.world_size(), 30));
  // The plan must describe the data this rank loaded.
  int64_t planned = 0;
  for (int64_t size : client->plan().shard_sizes()) planned += size;
  if (planned != job.train.num_examples || client->plan().global_batch() <= 0) {
    return FailedPreconditionError(
        "the coordinator plans " + std::to_string(planned) + " training examples in batches of " +
        std::to_string(client->plan().global_batch()) + " but rank " + std::to_string(comm.rank()) +
        " loaded " + std::to_string(job.train.num_examples) +
        "; start the coordinator with the same config and data");
  }
  return client;
}

// Collective: rank 0's `text`, on every rank.
StatusOr<std::string> BroadcastString(comm::Communicator& comm, const std::string& text) {
  int64_t size = static_cast<int64_t>(text.size());
  RETURN_IF_ERROR(comm.Broadcast(&size, sizeof(size), 0));
  std::string received = comm.rank() == 0 ? text : std::string(static_cast<size_t>(size), '\0');
  RETURN_IF_ERROR(comm.Broadcast(received.data(), size, 0));
  return received;
}

// Every rank: restores the newest of rank 0's resume candidates that restores
// (each restore verifies the whole checkpoint), skipping damaged ones with a
// warning when falling back is allowed. Returns the restored state and its
// prefix, or nullopt for a fresh start; every candidate damaged is DataLoss
// listing them, never a fresh start.
StatusOr<std::optional<std::pair<checkpoint::SavedState, std::string>>> RestoreNewestIntact(
    Job& job, comm::Communicator& comm, Trainer& trainer) {
  int64_t header[2] = {static_cast<int64_t>(job.resume_candidates.size()), job.fall_back ? 1 : 0};
  RETURN_IF_ERROR(comm.Broadcast(header, sizeof(header), 0));
  std::vector<std::string> skipped;
  for (int64_t i = 0; i < header[0]; ++i) {
    ASSIGN_OR_RETURN(std::string prefix,
                     BroadcastString(comm, comm.rank() == 0 ? job.resume_candidates[i] : ""));
    StatusOr<checkpoint::SavedState> state =
        checkpoint::RestoreOnAllRanks(storage::PosixFileSystem(), prefix, trainer, comm);
    if (state.ok()) {
      if (comm.rank() == 0 && !skipped.empty()) {
        std::cerr << "warning: falling back to " << prefix << std::endl;
      }
      return std::make_optional(std::make_pair(*std::move(state), prefix));
    }
    // Fall back only when every rank found this checkpoint damaged.
    double not_damaged = checkpoint::IsDamagedCheckpoint(state.status()) ? 0.0 : 1.0;
    RETURN_IF_ERROR(comm.AllReduceSumHostScalars(&not_damaged, 1));
    if (header[1] == 0) return state.status().WithContext("--restore " + prefix);
    if (not_damaged > 0) return state.status();
    if (comm.rank() == 0) {
      std::cerr << "warning: skipping damaged checkpoint " << prefix << ": "
                << state.status().ToString() << std::endl;
    }
    skipped.push_back(prefix + ": " + state.status().ToString());
  }
  if (skipped.empty()) return std::optional<std::pair<checkpoint::SavedState, std::string>>();
  std::string all;
  for (const std::string& s : skipped) all += "\n  " + s;
  return DataLossError("no intact checkpoint in " + checkpoint::CheckpointDir(job.config) + ":" +
                       all + "\n(--no-resume starts afresh; nothing was deleted)");
}

// Every rank: restores rank 0's resume point into `trainer` and checks its
// config. Returns the restored state, or nullopt for a fresh start.
StatusOr<std::optional<checkpoint::SavedState>> Restore(const ResumeOptions& resume, Job& job,
                                                        comm::Communicator& comm,
                                                        Trainer& trainer) {
  ASSIGN_OR_RETURN(auto restored, RestoreNewestIntact(job, comm, trainer));
  if (!restored) return std::optional<checkpoint::SavedState>();
  auto& [state, prefix] = *restored;
  const std::string hash = checkpoint::TrajectoryConfigHash(job.config);
  if (state.config_hash != hash && !resume.allow_config_change) {
    return FailedPreconditionError(
        std::string("checkpoint ") + prefix + " was written with a different job config (model, "
        "optimizer, loss, data selection, batch size, seed or shuffle changed; its config is "
        "stored under _SHARDTRAIN_STATE/config). Pass --allow-config-change to resume anyway, "
        "--no-resume to start afresh, or use another --run-dir");
  }
  trainer.ResumeFrom(state.progress);
  if (comm.rank() == 0) {
    std::cout << "resuming from " << prefix << " (epoch " << state.progress.epoch + 1
              << ", step " << state.progress.global_step << ", " << state.progress.position
              << " examples into the epoch)" << (state.weights_only ? "; weights only: the "
              "optimizer starts afresh" : "") << std::endl;
  }
  return std::optional<checkpoint::SavedState>(std::move(state));
}

// `*every_rank_stops` is set when a failure is known to every rank (so they
// can all exit normally instead of being aborted).
Status Train(const std::string& config_path, const JobOverrides& overrides,
             const ResumeOptions& resume, int64_t log_every_steps, int verbosity,
             const std::string& collective,
             int64_t bucket_bytes, const ControlPlaneOptions& control, comm::MpiRuntime* mpi,
             bool* every_rank_stops) {
  const int rank = mpi != nullptr ? mpi->rank() : 0;
  Job job;
  Status setup = SetUp(config_path, overrides, resume, log_every_steps, rank, &job);
  if (mpi == nullptr && !setup.ok()) return setup;
  // Every rank gets the same answer here (same flags), so a failure stops all alike.
  *every_rank_stops = true;
  ASSIGN_OR_RETURN(auto comm, comm::CreateCommunicator(collective, /*device_is_cuda=*/false, mpi));
  RETURN_IF_ERROR(AgreeOnSetup(*comm, setup));
  *every_rank_stops = false;

  std::unique_ptr<coordinator::Coordinator> hosted;  // rank 0's, outlives every client
  ASSIGN_OR_RETURN(auto client, JoinControlPlane(control, job, *comm, &hosted));
  if (hosted != nullptr && verbosity > 0) {
    std::cout << "coordinator on 127.0.0.1:" << hosted->port()
              << ", live status at http://127.0.0.1:" << hosted->http_port() << "/status"
              << std::endl;
  }
  ASSIGN_OR_RETURN(auto trainer,
                   Trainer::Create(job.config, job.backend.get(), comm.get(), bucket_bytes));
  ASSIGN_OR_RETURN(std::optional<checkpoint::SavedState> restored,
                   Restore(resume, job, *comm, *trainer));
  if (resume.init_from && !restored) {
    ASSIGN_OR_RETURN(storage::keras::KerasModelFile file,
                     storage::keras::ReadKerasFile(*resume.init_from));
    ASSIGN_OR_RETURN(model::WeightLoadReport report,
                     model::LoadWeightsByName(file, &trainer->model()));
    if (rank == 0) std::cout << *resume.init_from << ": " << report.Describe() << std::endl;
  } else if (resume.init_from && rank == 0) {
    std::cout << "--init-from " << *resume.init_from
              << " ignored: resuming from a checkpoint of this run" << std::endl;
  }
  checkpoint::Checkpointer checkpointer(job.config, trainer.get(), comm.get(), client.get(),
                                        storage::PosixFileSystem(),
                                        restored ? &*restored : nullptr);
  ShardPlanner planner(client->plan(), comm->rank(), comm->world_size());
  JobMonitor monitor(client.get(), rank,
                     std::clamp(control.heartbeat_timeout_seconds / 4, 0.05, 1.0));
  callbacks::Progress progress(&std::cout, verbosity);
  std::unique_ptr<callbacks::CsvLogger> csv_logger;  // rank 0: appends on resume
  if (rank == 0) {
    const int64_t first_epoch = restored ? restored->progress.epoch + 1 : 1;
    ASSIGN_OR_RETURN(csv_logger,
                     callbacks::CsvLogger::Open(job.config.training().run_dir(), first_epoch));
  }
  std::vector<callbacks::Callback*> callbacks = {&monitor};
  if (rank == 0) {
    callbacks = {&monitor, &progress, job.metrics_log.get(), job.tensorboard.get(),
                 csv_logger.get()};
  }
  callbacks.push_back(&checkpointer);  // every rank: saves are collective
  RETURN_IF_ERROR(trainer->Fit(job.train, job.test, &planner, callbacks));
  if (checkpointer.preempted()) {
    if (rank == 0) {
      std::cout << "preempted (SIGTERM): saved " << checkpointer.last_saved()
                << "; run the same command again to resume" << std::endl;
    }
    monitor.Stop();
    RETURN_IF_ERROR(client->Done());
    return comm->Barrier();
  }

  ASSIGN_OR_RETURN(EvalResult result, trainer->Evaluate(job.test));
  if (rank == 0) {
    std::cout << std::fixed << std::setprecision(4) << "test accuracy: " << result.accuracy
              << "  test loss: " << result.loss << "  (" << result.examples
              << " examples; metrics in " << job.metrics_log->path() << ")" << std::endl;
  }
  monitor.Stop();
  RETURN_IF_ERROR(client->Done());
  // Every rank has said Done before rank 0 stops its coordinator.
  return comm->Barrier();
}

}  // namespace

Status RunTrain(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<int64_t> verbose, bucket_mb;
  std::optional<std::string> collective;
  std::optional<int64_t> log_every;
  ResumeOptions resume;
  FlagSet flags("shardtrain train", "[mpirun -np N] shardtrain train CONFIG [flags]",
                "Trains the model described by the job config CONFIG (a text protobuf, see\n"
                "configs/fashion_mlp.textproto and proto/config.proto). Flags override the file.\n"
                "Under mpirun every rank is a data-parallel worker; --batch-size is global.");
  flags.String("data", &overrides.data_dir, "directory of TFRecord shards (data.dir)");
  flags.String("run-dir", &overrides.run_dir, "where logs go (training.run_dir)");
  flags.Int("epochs", &overrides.epochs, "number of epochs (training.epochs)");
  flags.Int("batch-size", &overrides.batch_size, "global batch size (training.batch_size)");
  flags.Int("train-examples", &overrides.train_examples,
            "train on the first N examples only (data.train_examples; 0 = all)");
  flags.Int("test-examples", &overrides.test_examples,
            "validate on the first N test examples only (data.test_examples; 0 = all)");
  flags.UInt("seed", &overrides.seed, "seed for init, shuffling and dropout (training.seed)");
  flags.Float("learning-rate", &overrides.learning_rate,
              "optimizer learning rate (optimizer.learning_rate)");
  flags.String("model-json", &overrides.model_json,
               "take the architecture from this Keras model JSON (model.to_json(), a .keras "
               "archive's config.json) instead of the config's model (model_json)");
  flags.String("device", &overrides.device, "cpu, cuda or auto (training.device)");
  flags.String("collective", &collective,
               "auto, mpi, nccl or local: how gradients are summed over ranks (default auto: "
               "NCCL on CUDA devices, MPI on CPU, local for one process)");
  flags.Int("bucket-mb", &bucket_mb, "gradient allreduce bucket size in MiB (default 25)");
  ControlPlaneOptions control;
  std::optional<float> heartbeat_timeout;
  std::optional<int64_t> http_port;
  flags.String("coordinator", &control.coordinator,
               "HOST:PORT of a standalone `shardtrain coordinator` (default: rank 0 hosts one "
               "on 127.0.0.1)");
  flags.String("job-token-file", &control.token_file,
               "file holding the job token the coordinator requires (default: generated, or "
               "$SHARDTRAIN_JOB_TOKEN)");
  flags.Float("heartbeat-timeout", &heartbeat_timeout,
              "seconds a rank may be silent before the job is aborted (default 60)");
  flags.Int("http-port", &http_port,
            "port of the hosted coordinator's GET /status page (default: any free port, "
            "printed at start)");
  flags.Int("log-every", &log_every,
            "also log batch_loss, batch_accuracy, examples_per_second and learning_rate to "
            "TensorBoard (RUN_DIR/logs/train) every N steps (default 0: epoch scalars only)");
  flags.Int("verbose", &verbose,
            "0 silent, 1 live progress bar, 2 one line per epoch (default: 1 on a TTY, else 2)");
  flags.Bool("no-resume", &resume.no_resume,
             "start from scratch instead of resuming from RUN_DIR/checkpoints' latest "
             "checkpoint (the metrics log is rewritten)");
  flags.String("init-from", &resume.init_from,
               "start from the weights of a Keras file (.keras, .h5, .weights.h5), matched by "
               "layer name; the layers loaded and not loaded are listed (fresh runs only)");
  flags.String("restore", &resume.restore,
               "resume from this checkpoint PREFIX (e.g. runs/x/checkpoints/ckpt-1875) instead "
               "of the latest");
  flags.Bool("allow-config-change", &resume.allow_config_change,
             "resume even though the checkpoint was written with a different model, optimizer, "
             "data selection, batch size or seed");
  flags.String("save-freq", &overrides.save_freq,
               "checkpoint every N steps, after every epoch (\"epoch\") or only on SIGTERM "
               "(\"none\") (checkpoint.save_freq)");
  flags.Int("max-to-keep", &overrides.max_to_keep,
            "checkpoints kept, oldest deleted first; negative keeps all (checkpoint.max_to_keep)");
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
  if (verbosity < 0 || verbosity > 2) return InvalidArgumentError("--verbose must be 0, 1 or 2");
  if (log_every && *log_every < 0) return InvalidArgumentError("--log-every must be >= 0");
  if (bucket_mb && (*bucket_mb < 1 || *bucket_mb > 1024)) {
    return InvalidArgumentError("--bucket-mb must be in [1, 1024]");
  }
  if (heartbeat_timeout) {
    if (!(*heartbeat_timeout > 0)) return InvalidArgumentError("--heartbeat-timeout must be > 0");
    control.heartbeat_timeout_seconds = *heartbeat_timeout;
  }
  if (http_port) {
    if (*http_port < 0 || *http_port > 65535) {
      return InvalidArgumentError("--http-port must be in [0, 65535]");
    }
    control.http_port = static_cast<int>(*http_port);
  }
  const int64_t bucket_bytes =
      bucket_mb ? *bucket_mb << 20 : comm::GradientReducer::kDefaultBucketBytes;

  ASSIGN_OR_RETURN(auto mpi, comm::MpiRuntime::InitIfLaunchedByMpirun());
  RETURN_IF_ERROR(InstallPreemptionHandler());
  bool every_rank_stops = false;
  Status status = Train(flags.positional()[0], overrides, resume, log_every.value_or(0), verbosity,
                        collective.value_or("auto"), bucket_bytes, control, mpi.get(),
                        &every_rank_stops);
  if (!status.ok() && mpi != nullptr && mpi->world_size() > 1 && !every_rank_stops) {
    // Other ranks may be blocked in a collective with this one: end them all.
    std::cout.flush();
    std::cerr << "shardtrain train: error on rank " << mpi->rank() << " of " << mpi->world_size()
              << ": " << status.ToString() << std::endl;
    mpi->Abort(1);
  }
  return status;
}

}  // namespace shardtrain::cli
