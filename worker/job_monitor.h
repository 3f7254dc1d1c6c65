// JobMonitor: this rank's heartbeat to the coordinator. A background thread
// sends the latest progress every interval; when the coordinator says the job
// is aborted (another rank died or went silent), or cannot be reached, the
// monitor prints the reason and ends this process with exit code 1, so no rank
// waits forever in a collective with a dead peer (mpirun then ends the rest).
//
// As a Callback it records progress at every batch; rank 0 reports the job's
// global totals (the trainer reduces them), other ranks only liveness and step.
// Rank 0 also reports the job's name and size (from OnTrainBegin) and the last
// finished epoch's figures (from OnEpochEnd), which the coordinator keeps as
// the history behind its status page. The end of an epoch and of training
// wake the heartbeat thread, so the coordinator hears of them at once.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "coordinator/rpc/coordinator_client.h"
#include "worker/callbacks/callback.h"

namespace shardtrain {

class JobMonitor : public callbacks::Callback {
 public:
  // `client` outlives the monitor. Starts the heartbeat thread.
  JobMonitor(coordinator::CoordinatorClient* client, int rank, double interval_seconds);
  ~JobMonitor() override;  // Stop()

  Status OnTrainBegin(const callbacks::TrainBegin& info) override;
  Status OnBatchEnd(const callbacks::BatchEnd& batch) override;
  Status OnEpochEnd(const callbacks::EpochEnd& epoch) override;
  Status OnTrainEnd() override;
  // Stops heartbeating (before Done()).
  void Stop();

 private:
  void Run();

  coordinator::CoordinatorClient* client_;
  int rank_;
  double interval_seconds_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool send_now_ = false;  // wake the thread before its interval is up
  coordinator::Heartbeat progress_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace shardtrain
