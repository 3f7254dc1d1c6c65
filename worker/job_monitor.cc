#include "worker/job_monitor.h"

#include <cstdio>
#include <cstdlib>

namespace shardtrain {

JobMonitor::JobMonitor(coordinator::CoordinatorClient* client, int rank, double interval_seconds)
    : client_(client), rank_(rank), interval_seconds_(interval_seconds) {
  progress_.set_rank(rank);
  thread_ = std::thread([this] { Run(); });
}

JobMonitor::~JobMonitor() { Stop(); }

void JobMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status JobMonitor::OnTrainBegin(const callbacks::TrainBegin& info) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (rank_ == 0) {
    progress_.set_job_name(info.job_name);
    progress_.set_epochs(info.epochs);
    progress_.set_steps_per_epoch(info.steps_per_epoch);
  }
  return OkStatus();
}

Status JobMonitor::OnBatchEnd(const callbacks::BatchEnd& batch) {
  std::lock_guard<std::mutex> lock(mutex_);
  progress_.set_epoch(batch.epoch);
  progress_.set_step(batch.global_step);
  const double loss = batch.Log("loss").value_or(0.0);
  const double accuracy = batch.Log("accuracy").value_or(0.0);  // 0 unless the job logs it
  progress_.set_loss(loss);
  // The trainer's figures are already global (reduced over ranks) and the
  // coordinator sums ranks' counts, so only rank 0 reports them.
  if (rank_ == 0) {
    progress_.set_examples_per_sec(batch.examples_per_sec);
    progress_.set_examples(batch.examples);
    progress_.set_loss_sum(loss * static_cast<double>(batch.examples));
    progress_.set_correct(
        static_cast<int64_t>(accuracy * static_cast<double>(batch.examples) + 0.5));
    progress_.set_accuracy(accuracy);
  }
  return OkStatus();
}

Status JobMonitor::OnEpochEnd(const callbacks::EpochEnd& epoch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    progress_.set_step(epoch.step);
    if (rank_ == 0) {
      progress_.set_examples_per_sec(epoch.examples_per_sec);
      progress_.set_last_epoch(epoch.epoch);
      progress_.set_last_epoch_step(epoch.step);
      // The status page shows loss and accuracy; 0 for a log the job lacks.
      progress_.set_last_epoch_loss(epoch.Log("loss").value_or(0.0));
      progress_.set_last_epoch_accuracy(epoch.Log("accuracy").value_or(0.0));
      progress_.set_last_epoch_val_loss(epoch.Log("val_loss").value_or(0.0));
      progress_.set_last_epoch_val_accuracy(epoch.Log("val_accuracy").value_or(0.0));
      progress_.set_last_epoch_examples_per_sec(epoch.examples_per_sec);
      progress_.set_last_epoch_seconds(epoch.epoch_seconds);
      send_now_ = true;
    }
  }
  wake_.notify_all();
  return OkStatus();
}

Status JobMonitor::OnTrainEnd() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    send_now_ = true;
  }
  wake_.notify_all();
  return OkStatus();
}

void JobMonitor::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    send_now_ = false;
    coordinator::Heartbeat heartbeat = progress_;
    lock.unlock();
    StatusOr<coordinator::HeartbeatReply> reply = client_->SendHeartbeat(heartbeat);
    lock.lock();
    if (stop_) break;
    const char* what = nullptr;
    std::string reason;
    if (!reply.ok()) {
      what = "lost the coordinator";
      reason = reply.status().ToString();
    } else if (reply->abort) {
      what = "job aborted by the coordinator";
      reason = reply->reason;
    }
    if (what != nullptr) {
      std::fflush(stdout);
      std::fprintf(stderr, "shardtrain train: error on rank %d: %s: %s\n", rank_, what,
                   reason.c_str());
      std::fflush(stderr);
      std::_Exit(1);  // other threads may be blocked in a collective with the dead rank
    }
    wake_.wait_for(lock, std::chrono::duration<double>(interval_seconds_),
                   [this] { return stop_ || send_now_; });
  }
}

}  // namespace shardtrain
