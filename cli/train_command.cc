// `shardtrain train CONFIG`: load and validate the job config, apply flag
// overrides, load the data, train (one process, or every rank of an mpirun
// job), and report the final test accuracy.
//
// Under mpirun every rank runs this. Ranks first do their local setup (config,
// data, run directory and resume candidates on rank 0) and then agree, in one
// collective (comm::AgreeOnStatus), that all of them succeeded: a rank that
// failed prints its own error and the others one naming it, so no rank is
// left waiting in a collective. Then they join the control plane
// (control_plane.h), resume from the newest intact checkpoint
// (worker/checkpoint/resume.h) and train on the coordinator's plan: by
// default each rank streams the shards of the training files the coordinator
// assigns it each epoch (rank 0, hosting the coordinator, indexes the files
// during setup; the others only list them), or with data.in_memory every rank
// loads the training split and takes its slice of each global batch. A re-run
// of a finished job (its checkpoint ends the configured epochs) trains
// nothing: it says so, prints the final checkpoint's test metrics and leaves
// the control plane like a finished run; so does a job EarlyStopping ended.
// After the setup, an error that every rank meets within 2 s of the first
// (e.g. TerminateOnNaN's, from the summed loss) ends each rank with its own
// message and a clean MPI_Finalize; an error on some ranks only ends the whole
// job through MPI_Abort.
//
// Callbacks, in order: the job monitor, TerminateOnNaN (before anything can
// save a diverged step), rank 0's progress and logs, EarlyStopping and
// ReduceLROnPlateau (their epoch-end state is then in the trainer when the
// checkpointer, last, saves the epoch).
#include <unistd.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/control_plane.h"
#include "cli/error_line.h"
#include "cli/init_from_optimizer.h"
#include "common/flags.h"
#include "kernels/backend_factory.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "worker/callbacks/csv_logger.h"
#include "worker/callbacks/early_stopping.h"
#include "worker/callbacks/metrics_log.h"
#include "worker/callbacks/progress.h"
#include "worker/callbacks/reduce_lr_on_plateau.h"
#include "worker/callbacks/tensorboard.h"
#include "worker/callbacks/terminate_on_nan.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/resume.h"
#include "worker/comm/communicator_factory.h"
#include "worker/comm/host_collectives.h"
#include "worker/comm/mpi_runtime.h"
#include "worker/data/dataset.h"
#include "worker/data/job_data.h"
#include "worker/job_config.h"
#include "worker/job_monitor.h"
#include "worker/metrics/metric_set.h"
#include "worker/model/keras_layer_order.h"
#include "worker/model/keras_weights.h"
#include "worker/preemption.h"
#include "worker/trainer.h"

namespace shardtrain::cli {
namespace {

// The train command's flags as parsed (Settings() checks them).
struct TrainFlags {
  JobOverrides overrides;
  checkpoint::ResumeOptions resume;
  std::optional<std::string> init_from;
  ControlPlaneOptions control;
  std::optional<std::string> collective;
  std::optional<int64_t> verbose, bucket_mb, log_every, http_port;
  std::optional<float> heartbeat_timeout;
};

// What a run does, from checked flags.
struct TrainSettings {
  std::string config_path;
  JobOverrides overrides;
  checkpoint::ResumeOptions resume;
  std::optional<std::string> init_from;  // --init-from FILE (Keras weights, fresh runs only)
  ControlPlaneOptions control;
  std::string collective = "auto";
  int verbosity = 2;
  int64_t bucket_bytes = comm::GradientReducer::kDefaultBucketBytes;
  int64_t log_every_steps = 0;
};

void RegisterTrainFlags(FlagSet* flags, TrainFlags* f) {
  flags->String("data", &f->overrides.data_dir, "directory of TFRecord shards (data.dir)");
  flags->String("run-dir", &f->overrides.run_dir, "where logs go (training.run_dir)");
  flags->Int("epochs", &f->overrides.epochs, "number of epochs (training.epochs)");
  flags->Int("batch-size", &f->overrides.batch_size, "global batch size (training.batch_size)");
  flags->Int("train-examples", &f->overrides.train_examples,
             "train on the first N examples only (data.train_examples; 0 = all)");
  flags->Int("test-examples", &f->overrides.test_examples,
             "validate on the first N test examples only (data.test_examples; 0 = all)");
  flags->UInt("seed", &f->overrides.seed, "seed for init, shuffling and dropout (training.seed)");
  flags->Float("learning-rate", &f->overrides.learning_rate,
               "optimizer learning rate (optimizer.learning_rate)");
  flags->String("model-json", &f->overrides.model_json,
                "take the architecture from this Keras model JSON (model.to_json(), a .keras "
                "archive's config.json) instead of the config's model (model_json)");
  flags->String("device", &f->overrides.device, "cpu, cuda or auto (training.device)");
  flags->String("collective", &f->collective,
                "auto, mpi, nccl or local: how gradients are summed over ranks (default auto: "
                "NCCL on CUDA devices, MPI on CPU, local for one process)");
  flags->Int("bucket-mb", &f->bucket_mb, "gradient allreduce bucket size in MiB (default 25)");
  flags->String("coordinator", &f->control.coordinator,
                "HOST:PORT of a standalone `shardtrain coordinator` (default: rank 0 hosts one "
                "on 127.0.0.1)");
  flags->String("job-token-file", &f->control.token_file,
                "file holding the job token the coordinator requires (default: generated, or "
                "$SHARDTRAIN_JOB_TOKEN)");
  flags->Float("heartbeat-timeout", &f->heartbeat_timeout,
               "seconds a rank may be silent before the job is aborted (default 60)");
  flags->Int("http-port", &f->http_port,
             "port of the hosted coordinator's GET /status page (default: any free port, "
             "printed at start)");
  flags->Int("log-every", &f->log_every,
             "also log batch_loss, batch_accuracy, examples_per_second and learning_rate to "
             "TensorBoard (RUN_DIR/logs/train) every N steps (default 0: epoch scalars only)");
  flags->Int("verbose", &f->verbose,
             "0 silent, 1 live progress bar, 2 one line per epoch (default: 1 when stdout is "
             "a terminal and the process was not started by mpirun, else 2: under mpirun a "
             "rank's stdout is mpirun's pseudo-terminal, also when mpirun writes to a file)");
  flags->Bool("no-resume", &f->resume.no_resume,
              "start from scratch instead of resuming from RUN_DIR/checkpoints' latest "
              "checkpoint (the metrics log is rewritten)");
  flags->String("init-from", &f->init_from,
                "start from the weights of a Keras file (.keras, .h5, .weights.h5), matched by "
                "layer name; the layers loaded and not loaded are listed (fresh runs only). Its "
                "optimizer is used when CONFIG sets none");
  flags->String("restore", &f->resume.restore,
                "resume from this checkpoint PREFIX (e.g. runs/x/checkpoints/ckpt-1875) instead "
                "of the latest");
  flags->Bool("allow-config-change", &f->resume.allow_config_change,
              "resume even though the checkpoint was written with a different model, optimizer, "
              "data selection, batch size or seed");
  flags->String("save-freq", &f->overrides.save_freq,
                "checkpoint every N steps, after every epoch (\"epoch\") or only on SIGTERM "
                "(\"none\") (checkpoint.save_freq)");
  flags->Int("max-to-keep", &f->overrides.max_to_keep,
             "checkpoints kept, oldest deleted first; negative keeps all (checkpoint.max_to_keep)");
}

StatusOr<TrainSettings> Settings(const TrainFlags& f, const std::vector<std::string>& positional) {
  if (positional.size() != 1) {
    return InvalidArgumentError("expected exactly one CONFIG file, got " +
                                std::to_string(positional.size()) +
                                " arguments; see `shardtrain train --help`");
  }
  TrainSettings s{positional[0], f.overrides, f.resume, f.init_from, f.control};
  s.collective = f.collective.value_or("auto");
  s.verbosity = f.verbose ? static_cast<int>(*f.verbose)
                          : callbacks::DefaultVerbosity(isatty(STDOUT_FILENO) != 0,
                                                        comm::LaunchedByMpirun());
  if (s.verbosity < 0 || s.verbosity > 2)
    return InvalidArgumentError("--verbose must be 0, 1 or 2");
  if (f.log_every && *f.log_every < 0) return InvalidArgumentError("--log-every must be >= 0");
  s.log_every_steps = f.log_every.value_or(0);
  if (f.bucket_mb && (*f.bucket_mb < 1 || *f.bucket_mb > 1024)) {
    return InvalidArgumentError("--bucket-mb must be in [1, 1024]");
  }
  if (f.bucket_mb) s.bucket_bytes = *f.bucket_mb << 20;
  if (f.heartbeat_timeout) {
    if (!(*f.heartbeat_timeout > 0)) return InvalidArgumentError("--heartbeat-timeout must be > 0");
    s.control.heartbeat_timeout_seconds = *f.heartbeat_timeout;
  }
  if (f.http_port) {
    if (*f.http_port < 0 || *f.http_port > 65535) {
      return InvalidArgumentError("--http-port must be in [0, 65535]");
    }
    s.control.http_port = static_cast<int>(*f.http_port);
  }
  return s;
}

// What a device backend refuses because it runs on the host (custom layers,
// gradient clipping, weight decay: Model::Create, Optimizer::Create); empty
// when the job has none of it.
std::string HostOnlyFeature(const config::JobConfig& config) {
  for (const config::LayerConfig& layer : config.model().layers()) {
    if (layer.has_custom()) return "the custom layer '" + layer.name() + "'";
  }
  const config::OptimizerConfig& optimizer = config.optimizer();
  if (optimizer.clipnorm() > 0 || optimizer.clipvalue() > 0 || optimizer.global_clipnorm() > 0) {
    return "gradient clipping";
  }
  const bool adamw = optimizer.kind_case() == config::OptimizerConfig::kAdamw;
  if ((optimizer.has_weight_decay() && optimizer.weight_decay() > 0) ||
      (adamw && !optimizer.has_weight_decay())) {
    return "weight decay";
  }
  return "";
}

// Whether this rank asks to train on CUDA: training.device cuda; or auto where
// CUDA runs here, this rank has a device of its own (node-local index below
// the device count), the gradients can be summed on it (one rank, NCCL built
// in, or --collective mpi) and the job uses nothing a device refuses.
bool WantsCuda(const config::JobConfig& config, const std::string& collective,
               const comm::MpiRuntime* mpi) {
  const std::string& device = config.training().device();
  if (device == "cuda") return true;
  if (device != "auto" || !kernels::CudaAvailable()) return false;
  const int local_rank = mpi != nullptr ? mpi->local_rank() : 0;
  const bool summable =
      mpi == nullptr || mpi->world_size() == 1 || collective == "mpi" || comm::NcclCompiledIn();
  return local_rank < kernels::CudaDeviceCount() && summable && HostOnlyFeature(config).empty();
}

// Everything a rank prepares before the first collective.
struct Job {
  config::JobConfig config;
  checkpoint::ResumeCandidates resume;  // rank 0's (none: a fresh start)
  Device device = Device::kCpu;  // training.device, resolved
  std::unique_ptr<kernels::KernelBackend> backend;
  std::unique_ptr<callbacks::MetricsLog> metrics_log;         // rank 0 only
  std::unique_ptr<callbacks::TensorBoardLogger> tensorboard;  // rank 0 only
  data::Dataset train;  // data.in_memory only: the training split
  // Streamed training data (data.in_memory false): rank 0's index of the
  // training files when it hosts the coordinator, and the decoder every rank
  // reads them with.
  std::optional<data::TrainingIndex> index;
  std::optional<data::ExampleDecoder> decoder;
  data::Dataset test;  // the validation files (dir: the test split); empty without
  data::Dataset validation_split;  // the last training examples, with training.validation_split
  std::optional<storage::keras::KerasModelFile> init_from;  // --init-from's file, read once

  bool streaming() const { return !config.data().in_memory(); }
  JobTrainingData training_data() const {
    return streaming() ? JobTrainingData{nullptr, index ? &*index : nullptr}
                       : JobTrainingData{&train, nullptr};
  }

  // What fit validates on: the validation_split part when there is one, else
  // the test split; null when the job has neither.
  const data::Dataset* validation() const {
    if (validation_split.num_examples > 0) return &validation_split;
    return test.num_examples > 0 ? &test : nullptr;
  }
};

// A streamed job's training data before the control plane: the files are
// listed (every rank) and, by rank 0 when it hosts the coordinator, indexed;
// rank 0 prints the index's warnings.
Status PrepareStreaming(const TrainSettings& s, int rank, int world_size, Job* job) {
  const config::JobConfig& config = job->config;
  RETURN_IF_ERROR(CheckStreamingWorldSize(config, world_size));
  const auto& shape = config.model().input_shape();
  ASSIGN_OR_RETURN(job->decoder,
                   data::ExampleDecoder::Create(config.data(), {shape.begin(), shape.end()}));
  if (rank != 0 || s.control.coordinator) {
    return data::SplitFiles(config.data(), data::DataSplit::kTrain).status();
  }
  ASSIGN_OR_RETURN(job->index, data::IndexTrainingData(config));
  for (const std::string& warning : job->index->warnings) {
    std::cerr << "warning: " << warning << std::endl;
  }
  return OkStatus();
}

// Loads the job's training data (data.in_memory; streamed data:
// PrepareStreaming) and its validation files (data::LoadJobSplit), then cuts
// training.validation_split's part off an in-memory split (a streamed one's
// is loaded after joining the control plane, LoadStreamedValidation); rank 0
// prints the loader's warnings.
Status LoadData(const TrainSettings& s, int rank, int world_size, Job* job) {
  const config::JobConfig& config = job->config;
  if (job->streaming()) {
    RETURN_IF_ERROR(PrepareStreaming(s, rank, world_size, job));
  } else {
    ASSIGN_OR_RETURN(job->train, data::LoadJobSplit(config, data::DataSplit::kTrain));
  }
  if (data::HasValidationFiles(config.data())) {
    ASSIGN_OR_RETURN(job->test, data::LoadJobSplit(config, data::DataSplit::kValidation));
  }
  for (const data::Dataset* loaded : {&job->train, &job->test}) {
    for (const std::string& warning : loaded->warnings) {
      if (rank == 0) std::cerr << "warning: " << warning << std::endl;
    }
  }
  if (!job->streaming() && config.training().validation_split() > 0) {
    ASSIGN_OR_RETURN(auto parts, data::SplitForValidation(std::move(job->train),
                                                          config.training().validation_split()));
    job->train = std::move(parts.first);
    job->validation_split = std::move(parts.second);
  }
  return OkStatus();
}

// training.validation_split's part of a streamed job: the examples after the
// coordinator's training records, read on every rank.
Status LoadStreamedValidation(const ControlPlane& plane, Job* job) {
  if (!job->streaming() || job->config.training().validation_split() <= 0) return OkStatus();
  ASSIGN_OR_RETURN(job->validation_split,
                   data::LoadValidationTail(job->config, plane.stream_files));
  return OkStatus();
}

Status SetUp(const TrainSettings& s, int rank, int world_size, Job* job) {
  ASSIGN_OR_RETURN(job->config, LoadJobConfig(s.config_path));
  ApplyOverrides(s.overrides, &job->config);
  RETURN_IF_ERROR(ValidateJobConfig(&job->config).WithContext(s.config_path));
  if (s.init_from) {
    // Before anything uses the config: the file may supply its optimizer (on a
    // resume too, so the config matches the one the run was started with).
    ASSIGN_OR_RETURN(job->init_from, storage::keras::ReadKerasFile(*s.init_from));
    ASSIGN_OR_RETURN(const std::string note,
                     TakeOptimizerFromKerasFile(*s.init_from, *job->init_from, &job->config));
    if (rank == 0 && !note.empty()) std::cout << note << std::endl;
  }
  const std::string checkpoint_dir = checkpoint::CheckpointDir(job->config);
  if (rank == 0) {  // the run directory is checked before any expensive work
    ASSIGN_OR_RETURN(job->resume, checkpoint::FindResumeCandidates(storage::PosixFileSystem(),
                                                                   checkpoint_dir, s.resume));
    ASSIGN_OR_RETURN(job->metrics_log,
                     callbacks::MetricsLog::Open(job->config.training().run_dir(),
                                                 /*append=*/!job->resume.prefixes.empty()));
    ASSIGN_OR_RETURN(job->tensorboard, callbacks::TensorBoardLogger::Open(
                                           job->config.training().run_dir(), s.log_every_steps));
  }
  RETURN_IF_ERROR(storage::PosixFileSystem()
                      ->CreateDirs(checkpoint_dir)
                      .WithContext("cannot create the checkpoint directory " + checkpoint_dir +
                                   "; choose a writable place with --run-dir"));
  return LoadData(s, rank, world_size, job);
}

// The 1-based epoch after which EarlyStopping (still configured) ended the
// run `resumed` restores, if it did.
std::optional<int64_t> StoppedEarly(const checkpoint::Resumed& resumed,
                                    const config::JobConfig& config) {
  if (!config.callbacks().has_early_stopping()) return std::nullopt;
  return callbacks::EarlyStopping::StoppedEpoch(resumed.state.callbacks);
}

// Rank 0: says where a restored run stands: complete (nothing to train), or
// where it resumes.
void DescribeResumed(const checkpoint::Resumed& resumed, const config::JobConfig& config) {
  const checkpoint::SavedState& state = resumed.state;
  const TrainingProgress& progress = state.progress;
  if (std::optional<int64_t> stopped = StoppedEarly(resumed, config)) {
    std::cout << "job complete: " << resumed.prefix << " is step " << progress.global_step
              << ", where EarlyStopping stopped training after epoch " << *stopped
              << "; nothing to train (--no-resume or another --run-dir starts afresh)"
              << std::endl;
    return;
  }
  if (checkpoint::TrainingComplete(progress, config)) {
    std::cout << "job complete: " << resumed.prefix << " is step " << progress.global_step
              << (progress.position == 0 ? ", the end of epoch " : ", in epoch ")
              << (progress.position == 0 ? progress.epoch : progress.epoch + 1)
              << " (epochs: " << config.training().epochs() << "); nothing to train (--epochs "
              << progress.epoch + 1 << " or more trains further)" << std::endl;
    return;
  }
  std::cout << "resuming from " << resumed.prefix << " (epoch " << progress.epoch + 1 << ", step "
            << progress.global_step << ", " << progress.position << " examples into the epoch)"
            << (state.weights_only ? "; weights only: the optimizer starts afresh" : "")
            << std::endl;
}

// Every rank: restores rank 0's resume point into `trainer`; rank 0 says so.
// A fresh run starts at training.initial_epoch (Keras fit's initial_epoch).
StatusOr<std::optional<checkpoint::Resumed>> Resume(const TrainSettings& s, const Job& job,
                                                    comm::Communicator& comm, Trainer& trainer) {
  ASSIGN_OR_RETURN(
      std::optional<checkpoint::Resumed> resumed,
      checkpoint::ResumeTraining(storage::PosixFileSystem(), job.resume, job.config,
                                 s.resume.allow_config_change, trainer, comm, std::cerr));
  if (resumed && comm.rank() == 0) DescribeResumed(*resumed, job.config);
  if (resumed && !job.streaming() && !resumed->state.progress.data_stages.empty() &&
      comm.rank() == 0) {
    std::cerr << "warning: " << resumed->prefix
              << " is inside an epoch of streamed training data; data.in_memory resumes it at "
                 "the same position of the in-memory example order, so this epoch may train "
                 "some examples twice and others not (resume it streamed for exactly once)"
              << std::endl;
  }
  const int64_t initial_epoch = job.config.training().initial_epoch();
  if (!resumed && initial_epoch > 0) {
    TrainingProgress start;
    start.epoch = initial_epoch;
    trainer.ResumeFrom(start);
    if (comm.rank() == 0) {
      std::cout << "starting at epoch " << initial_epoch + 1 << " (training.initial_epoch "
                << initial_epoch << ")" << std::endl;
    }
  }
  return resumed;
}

// Whether a restored run has nothing left to train: every epoch done, or
// EarlyStopping ended it (unless the config no longer has it).
bool NothingToTrain(const std::optional<checkpoint::Resumed>& resumed,
                    const config::JobConfig& config) {
  return resumed && (checkpoint::TrainingComplete(resumed->state.progress, config) ||
                     StoppedEarly(*resumed, config));
}

// The configured Keras callbacks of this rank, in the order they run (see the
// file comment); messages on rank 0 only.
struct KerasCallbacks {
  std::optional<callbacks::TerminateOnNaN> terminate_on_nan;
  std::optional<callbacks::EarlyStopping> early_stopping;
  std::unique_ptr<callbacks::ReduceLROnPlateau> reduce_lr_on_plateau;
};

StatusOr<KerasCallbacks> CreateKerasCallbacks(const config::CallbacksConfig& config,
                                              Trainer& trainer, int rank) {
  std::ostream* out = rank == 0 ? &std::cout : nullptr;
  KerasCallbacks made;
  if (!config.has_terminate_on_nan() || config.terminate_on_nan()) {
    made.terminate_on_nan.emplace(&trainer);
  }
  if (config.has_early_stopping()) made.early_stopping.emplace(config.early_stopping(), &trainer, out);
  if (config.has_reduce_lr_on_plateau()) {
    ASSIGN_OR_RETURN(made.reduce_lr_on_plateau,
                     callbacks::ReduceLROnPlateau::Create(config.reduce_lr_on_plateau(), &trainer,
                                                          out));
  }
  return made;
}

// --init-from: a fresh run starts from a Keras file's weights (`job.init_from`),
// matched by layer name; a resumed run ignores them.
Status LoadInitialWeights(const TrainSettings& s, const Job& job, bool resumed, int rank,
                          Trainer& trainer) {
  if (!job.init_from) return OkStatus();
  if (resumed) {
    if (rank == 0) {
      std::cout << "--init-from " << *s.init_from
                << " ignored: resuming from a checkpoint of this run" << std::endl;
    }
    return OkStatus();
  }
  ASSIGN_OR_RETURN(model::WeightLoadReport report,
                   model::LoadWeightsByName(*job.init_from, &trainer.model()));
  if (rank == 0) std::cout << *s.init_from << ": " << report.Describe() << std::endl;
  return OkStatus();
}

// The job's training data, epoch by epoch: the coordinator's epoch plans over
// the in-memory split, or its streams of the training files.
std::unique_ptr<EpochPlanner> MakePlanner(const Job& job, const ControlPlane& plane, int rank) {
  if (job.streaming()) return MakeStreamPlanner(job.config, plane, &*job.decoder, rank);
  return std::make_unique<CoordinatorPlanner>(plane.client.get(), &job.train,
                                              job.config.training().batch_size());
}

// Trains from `resumed` (or afresh) with every callback of this rank until
// the last epoch or a preemption. False when preempted (after its checkpoint).
StatusOr<bool> TrainEpochs(const TrainSettings& s, Job& job, ControlPlane& plane,
                           comm::Communicator& comm, Trainer& trainer, JobMonitor& monitor,
                           const std::optional<checkpoint::Resumed>& resumed) {
  const int rank = comm.rank();
  checkpoint::Checkpointer checkpointer(job.config, &trainer, &comm, plane.client.get(),
                                        storage::PosixFileSystem(),
                                        resumed ? &resumed->state : nullptr);
  const std::unique_ptr<EpochPlanner> planner = MakePlanner(job, plane, rank);
  callbacks::Progress progress(&std::cout, s.verbosity);
  std::unique_ptr<callbacks::CsvLogger> csv_logger;  // rank 0: appends on resume
  ASSIGN_OR_RETURN(KerasCallbacks keras, CreateKerasCallbacks(job.config.callbacks(), trainer, rank));
  std::vector<callbacks::Callback*> callbacks = {&monitor};
  if (keras.terminate_on_nan) callbacks.push_back(&*keras.terminate_on_nan);
  if (rank == 0) {
    const int64_t first_epoch = resumed ? resumed->state.progress.epoch + 1 : 1;
    ASSIGN_OR_RETURN(csv_logger,
                     callbacks::CsvLogger::Open(job.config.training().run_dir(), first_epoch,
                                                metrics::LogNames(job.config)));
    callbacks.insert(callbacks.end(), {&progress, job.metrics_log.get(), job.tensorboard.get(),
                                       csv_logger.get()});
  }
  if (keras.early_stopping) callbacks.push_back(&*keras.early_stopping);
  if (keras.reduce_lr_on_plateau) callbacks.push_back(keras.reduce_lr_on_plateau.get());
  callbacks.push_back(&checkpointer);  // every rank: saves are collective
  RETURN_IF_ERROR(trainer.Fit(planner.get(), job.validation(), callbacks));
  if (trainer.stopped() && !checkpointer.preempted()) {
    // A callback ended training (EarlyStopping): as Keras, fit's end still
    // runs, so the checkpointer commits the final step.
    for (callbacks::Callback* cb : callbacks) RETURN_IF_ERROR(cb->OnTrainEnd());
  }
  if (checkpointer.preempted() && rank == 0) {
    std::cout << "preempted (SIGTERM): saved " << checkpointer.last_saved()
              << "; run the same command again to resume" << std::endl;
  }
  return !checkpointer.preempted();
}

// Trains what is left (nothing when `resumed` is already complete), then,
// unless preempted, evaluates the final weights on the test split (the
// validation files; a job without them says so instead), and says
// goodbye to the coordinator. A complete job's re-run thus prints the test
// metrics of its final checkpoint, as the run that finished it did.
Status Fit(const TrainSettings& s, Job& job, ControlPlane& plane, comm::Communicator& comm,
           Trainer& trainer, const std::optional<checkpoint::Resumed>& resumed) {
  const int rank = comm.rank();
  JobMonitor monitor(plane.client.get(), rank,
                     HeartbeatIntervalSeconds(s.control.heartbeat_timeout_seconds));
  bool finished = true;
  if (!NothingToTrain(resumed, job.config)) {
    ASSIGN_OR_RETURN(finished, TrainEpochs(s, job, plane, comm, trainer, monitor, resumed));
  }
  if (finished && job.test.num_examples == 0 && rank == 0) {
    std::cout << "no test data (data.validation_files is not set): no final evaluation"
              << std::endl;
  }
  if (finished && job.test.num_examples > 0) {
    ASSIGN_OR_RETURN(EvalResult result, trainer.Evaluate(job.test));
    if (rank == 0) {
      // Accuracy only where the job logs it (Keras's evaluate returns the loss
      // and the compiled metrics: none of accuracy for a regression).
      std::cout << std::fixed << std::setprecision(4);
      if (result.logs_accuracy()) std::cout << "test accuracy: " << result.accuracy << "  ";
      std::cout << "test loss: " << result.loss << "  (" << result.examples
                << " examples; metrics in " << job.metrics_log->path() << ")" << std::endl;
      for (const auto& [name, value] : result.metrics) {
        if (name != "accuracy") std::cout << "test " << name << ": " << value << std::endl;
      }
    }
  }
  monitor.Stop();
  return plane.client->Done();
}

// How long a failed rank waits for every other rank to report a failure too
// before it aborts the job (RunTrain).
constexpr std::chrono::milliseconds kEveryRankFailsWithin{2000};

// A rank's communicator and control plane, which outlive Train's error report
// (RunTrain): a rank that fails alone (e.g. on a damaged record of its shard)
// names its error before its coordinator connection, or rank 0's hosted
// coordinator, goes away and ends the others, and before the communicator's
// collective teardown would wait for ranks still training.
struct Session {
  std::unique_ptr<comm::Communicator> comm;
  ControlPlane plane;  // destroyed first, as it was joined last
};

// The device every rank trains on: CUDA when every rank's setup succeeded and
// every rank asks for it (agreed over MPI before any communicator exists, so
// all ranks build the same one), else the CPU. Then this rank's backend, unless
// its setup failed: CUDA on its node-local device, or why it cannot run.
Status ChooseDevice(const std::string& collective, comm::MpiRuntime* mpi, Status setup, Job* job) {
  bool cuda = setup.ok() && WantsCuda(job->config, collective, mpi);
  if (mpi != nullptr) {
    ASSIGN_OR_RETURN(cuda, mpi->EveryRank(cuda));
  }
  job->device = cuda ? Device::kCuda : Device::kCpu;
  // (With --device cuda, CPU here means another rank's setup failed: the
  // agreement on the setup reports it.)
  RETURN_IF_ERROR(setup);
  ASSIGN_OR_RETURN(job->backend,
                   kernels::CreateBackend(job->device, mpi != nullptr ? mpi->local_rank() : 0));
  return OkStatus();
}

// Rank 0 warns, before training, when a functional model's layers are not in
// Keras's model.layers order: its Keras exports will be refused, and tf.keras
// load_weights of its checkpoints (layer_with_weights-N in config order)
// would put weights into the wrong layers.
void WarnOfKerasLayerOrder(const model::Model& model, int rank) {
  const std::string mismatch = model::KerasLayerOrderMismatch(model);
  if (mismatch.empty() || rank != 0) return;
  std::cerr << "warning: " << mismatch
            << ". Training and SavedModel exports are not affected, but Keras exports (.keras, "
               ".h5, .weights.h5) will be refused and tf.keras load_weights of this job's "
               "checkpoints would put weights into the wrong layers: list the layers in Keras's "
               "order to use the weights in Keras"
            << std::endl;
}

// `*every_rank_stops` is set when a failure is known to every rank (so they
// can all exit normally instead of being aborted).
Status Train(const TrainSettings& s, comm::MpiRuntime* mpi, Session* session,
             bool* every_rank_stops) {
  const int rank = mpi != nullptr ? mpi->rank() : 0;
  Job job;
  Status setup = SetUp(s, rank, mpi != nullptr ? mpi->world_size() : 1, &job);
  if (mpi == nullptr && !setup.ok()) return setup;
  // Every rank gets the same answer here (same flags, the device agreed), so a
  // failure stops all alike.
  *every_rank_stops = true;
  setup = ChooseDevice(s.collective, mpi, setup, &job);
  if (mpi == nullptr && !setup.ok()) return setup;
  // Where some rank's setup failed, MPI carries the agreement that reports it,
  // whatever the collective (an NCCL one could not be made on the CPU).
  bool every_setup_ok = setup.ok();
  if (mpi != nullptr) {
    ASSIGN_OR_RETURN(every_setup_ok, mpi->EveryRank(every_setup_ok));
  }
  ASSIGN_OR_RETURN(session->comm, comm::CreateCommunicator(every_setup_ok ? s.collective : "mpi",
                                                           job.device == Device::kCuda, mpi));
  comm::Communicator& comm = *session->comm;
  // A rank that failed reports its own error; the others name the first that did.
  RETURN_IF_ERROR(comm::AgreeOnStatusKeepingOwnError(comm, setup, "setting up"));
  *every_rank_stops = false;

  ControlPlane* plane = &session->plane;
  ASSIGN_OR_RETURN(*plane, JoinControlPlane(s.control, job.config, job.training_data(), comm));
  RETURN_IF_ERROR(LoadStreamedValidation(*plane, &job));
  if (plane->hosted != nullptr && s.verbosity > 0) {
    std::cout << "coordinator on " << plane->host << ":" << plane->hosted->port()
              << ", live status at http://" << plane->host << ":" << plane->hosted->http_port()
              << "/status" << std::endl;
  }
  ASSIGN_OR_RETURN(auto trainer,
                   Trainer::Create(job.config, job.backend.get(), &comm, s.bucket_bytes));
  WarnOfKerasLayerOrder(trainer->model(), rank);
  ASSIGN_OR_RETURN(std::optional<checkpoint::Resumed> resumed, Resume(s, job, comm, *trainer));
  RETURN_IF_ERROR(LoadInitialWeights(s, job, resumed.has_value(), rank, *trainer));
  RETURN_IF_ERROR(Fit(s, job, *plane, comm, *trainer, resumed));
  // Every rank has said Done before rank 0 stops its coordinator.
  return comm.Barrier();
}

}  // namespace

Status RunTrain(const std::vector<std::string>& args, bool* error_reported) {
  FlagSet flags("shardtrain train", "[mpirun -np N] shardtrain train CONFIG [flags]",
                "Trains the model described by the job config CONFIG (a text protobuf, see\n"
                "configs/fashion_mlp.textproto and proto/config.proto). Flags override the file.\n"
                "Under mpirun every rank is a data-parallel worker; --batch-size is global.");
  TrainFlags parsed;
  RegisterTrainFlags(&flags, &parsed);
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  ASSIGN_OR_RETURN(TrainSettings settings, Settings(parsed, flags.positional()));
  ASSIGN_OR_RETURN(auto mpi, comm::MpiRuntime::InitIfLaunchedByMpirun());
  RETURN_IF_ERROR(InstallPreemptionHandler());
  bool every_rank_stops = false;
  Session session;  // outlives the error report below
  Status status = Train(settings, mpi.get(), &session, &every_rank_stops);
  if (status.ok() || mpi == nullptr || mpi->world_size() == 1 || every_rank_stops) return status;
  // Said before the wait below: once another rank has died, mpirun may end
  // this one (SIGTERM, then SIGKILL) while it waits.
  WriteErrorLine("shardtrain train: error on rank " + std::to_string(mpi->rank()) + " of " +
                 std::to_string(mpi->world_size()) + ": " + status.ToString());
  *error_reported = true;
  // A failure every rank saw (a diverged loss) ends each with its own message
  // and MPI_Finalize; one other ranks may not have seen leaves them blocked in
  // a collective with this rank: end them all.
  if (!mpi->EveryRankFailed(kEveryRankFailsWithin)) mpi->Abort(1);
  return status;
}

}  // namespace shardtrain::cli
