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

#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "common/flags.h"
#include "coordinator/shard_planner.h"
#include "kernels/backend.h"
#include "worker/callbacks/metrics_log.h"
#include "worker/callbacks/progress.h"
#include "worker/comm/communicator_factory.h"
#include "worker/comm/mpi_runtime.h"
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

// This rank's slice of every global batch, computed from the same pure
// function on every rank (coordinator/shard_planner.h).
class ShardPlanner : public EpochPlanner {
 public:
  ShardPlanner(const config::JobConfig& config, std::vector<int64_t> shard_sizes, int rank,
               int world_size)
      : seed_(config.training().seed()),
        shuffle_(config.training().shuffle()),
        global_batch_(config.training().batch_size()),
        shard_sizes_(std::move(shard_sizes)),
        rank_(rank),
        world_size_(world_size) {}

  StatusOr<EpochPlan> Plan(int64_t epoch, int64_t start_position) override {
    coordinator::RankAssignment a = coordinator::AssignEpoch(
        seed_, epoch, shard_sizes_, shuffle_, global_batch_, start_position, rank_, world_size_);
    return EpochPlan{a.epoch, a.first_step, std::move(a.example_ids), std::move(a.step_counts),
                     std::move(a.step_offsets)};
  }

 private:
  uint64_t seed_;
  bool shuffle_;
  int64_t global_batch_;
  std::vector<int64_t> shard_sizes_;
  int rank_;
  int world_size_;
};

// Everything a rank prepares before the first collective.
struct Job {
  config::JobConfig config;
  std::unique_ptr<kernels::KernelBackend> backend;
  std::unique_ptr<callbacks::MetricsLog> metrics_log;  // rank 0 only
  data::Dataset train;
  data::Dataset test;
};

Status SetUp(const std::string& config_path, const JobOverrides& overrides, int rank, Job* job) {
  ASSIGN_OR_RETURN(job->config, LoadJobConfig(config_path));
  ApplyOverrides(overrides, &job->config);
  RETURN_IF_ERROR(ValidateJobConfig(&job->config).WithContext(config_path));
  if (rank == 0) {  // the run directory is checked before any expensive work
    ASSIGN_OR_RETURN(job->metrics_log, callbacks::MetricsLog::Open(
                                           job->config.training().run_dir(), /*append=*/false));
  }
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

// `*every_rank_stops` is set when a failure is known to every rank (so they
// can all exit normally instead of being aborted).
Status Train(const std::string& config_path, const JobOverrides& overrides, int verbosity,
             const std::string& collective, int64_t bucket_bytes, comm::MpiRuntime* mpi,
             bool* every_rank_stops) {
  const int rank = mpi != nullptr ? mpi->rank() : 0;
  Job job;
  Status setup = SetUp(config_path, overrides, rank, &job);
  if (mpi == nullptr && !setup.ok()) return setup;
  // Every rank gets the same answer here (same flags), so a failure stops all alike.
  *every_rank_stops = true;
  ASSIGN_OR_RETURN(auto comm, comm::CreateCommunicator(collective, /*device_is_cuda=*/false, mpi));
  RETURN_IF_ERROR(AgreeOnSetup(*comm, setup));
  *every_rank_stops = false;

  ASSIGN_OR_RETURN(auto trainer,
                   Trainer::Create(job.config, job.backend.get(), comm.get(), bucket_bytes));
  ShardPlanner planner(job.config, job.train.shard_sizes, comm->rank(), comm->world_size());
  callbacks::Progress progress(&std::cout, verbosity);
  std::vector<callbacks::Callback*> callbacks;
  if (rank == 0) callbacks = {&progress, job.metrics_log.get()};
  RETURN_IF_ERROR(trainer->Fit(job.train, job.test, &planner, callbacks));

  ASSIGN_OR_RETURN(EvalResult result, trainer->Evaluate(job.test));
  if (rank == 0) {
    std::cout << std::fixed << std::setprecision(4) << "test accuracy: " << result.accuracy
              << "  test loss: " << result.loss << "  (" << result.examples
              << " examples; metrics in " << job.metrics_log->path() << ")" << std::endl;
  }
  return OkStatus();
}

}  // namespace

Status RunTrain(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<int64_t> verbose, bucket_mb;
  std::optional<std::string> collective;
  bool no_resume = false;
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
  flags.UInt("seed", &overrides.seed, "seed for init, shuffling and dropout (training.seed)");
  flags.Float("learning-rate", &overrides.learning_rate,
              "optimizer learning rate (optimizer.learning_rate)");
  flags.String("device", &overrides.device, "cpu, cuda or auto (training.device)");
  flags.String("collective", &collective,
               "auto, mpi, nccl or local: how gradients are summed over ranks (default auto: "
               "NCCL on CUDA devices, MPI on CPU, local for one process)");
  flags.Int("bucket-mb", &bucket_mb, "gradient allreduce bucket size in MB (default 25)");
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
  if (verbosity < 0 || verbosity > 2) return InvalidArgumentError("--verbose must be 0, 1 or 2");
  if (bucket_mb && (*bucket_mb < 1 || *bucket_mb > 1024)) {
    return InvalidArgumentError("--bucket-mb must be in [1, 1024]");
  }
  const int64_t bucket_bytes = bucket_mb ? *bucket_mb * 1000 * 1000
                                         : comm::GradientReducer::kDefaultBucketBytes;

  ASSIGN_OR_RETURN(auto mpi, comm::MpiRuntime::InitIfLaunchedByMpirun());
  bool every_rank_stops = false;
  Status status = Train(flags.positional()[0], overrides, verbosity, collective.value_or("auto"),
                        bucket_bytes, mpi.get(), &every_rank_stops);
  if (!status.ok() && mpi != nullptr && mpi->world_size() > 1 && !every_rank_stops) {
    // Other ranks may be blocked in a collective with this one: end them all.
    std::cout.flush();
    std::cerr << "shardtrain train: error on rank " << mpi->rank() << " of "
              << mpi->world_size() << ": " << status.ToString() << std::endl;
    mpi->Abort(1);
  }
  return status;
}

}  // namespace shardtrain::cli
