#include "coordinator/status_page.h"

#include <algorithm>
#include <cctype>

#include "coordinator/json_text.h"

namespace shardtrain::coordinator {

void StatusHistory::Record(const Heartbeat& h, double seconds) {
  if (h.rank() != 0) return;
  if (!h.job_name().empty() || h.epochs() > 0) {
    have_job_ = true;
    job_name_ = h.job_name();
    epochs_total_ = h.epochs();
    steps_per_epoch_ = h.steps_per_epoch();
  }
  if (h.last_epoch() > 0) {
    Point p;
    p.epoch = h.last_epoch();
    p.step = h.last_epoch_step();
    p.loss = h.last_epoch_loss();
    p.accuracy = h.last_epoch_accuracy();
    p.val_loss = h.last_epoch_val_loss();
    p.val_accuracy = h.last_epoch_val_accuracy();
    p.examples_per_sec = h.last_epoch_examples_per_sec();
    p.epoch_seconds = h.last_epoch_seconds();
    p.time = seconds;
    auto at = std::lower_bound(epochs_.begin(), epochs_.end(), p.epoch,
                               [](const Point& a, int64_t epoch) { return a.epoch < epoch; });
    if (at == epochs_.end() || at->epoch != p.epoch) {
      epochs_.insert(at, p);
    } else if (at->step != p.step || at->loss != p.loss) {
      *at = p;  // the epoch was trained again (a restarted rank 0)
    }
  }
  if (h.examples() > 0 && h.step() != last_batch_step_) {
    if (h.step() < last_batch_step_) {  // steps went back: drop the points past them
      batches_.erase(std::remove_if(batches_.begin(), batches_.end(),
                                    [&](const Point& p) { return p.step >= h.step(); }),
                     batches_.end());
    }
    last_batch_step_ = h.step();
    Point p;
    p.epoch = h.epoch();
    p.step = h.step();
    p.loss = h.loss_sum() / static_cast<double>(h.examples());
    p.accuracy = static_cast<double>(h.correct()) / static_cast<double>(h.examples());
    p.examples_per_sec = h.examples_per_sec();
    p.time = seconds;
    batches_.push_back(p);
    if (batches_.size() > kMaxBatchPoints) {
      // Keep every other point (and always the newest).
      std::vector<Point> thinned;
      thinned.reserve(batches_.size() / 2 + 1);
      for (size_t i = batches_.size() % 2 == 0 ? 1 : 0; i < batches_.size(); i += 2) {
        thinned.push_back(batches_[i]);
      }
      batches_ = std::move(thinned);
    }
  }
}

std::string StatusHistory::JsonMembers() const {
  std::string out = "\"job\": {\"name\": " + (have_job_ ? JsonString(job_name_) : "null") +
                    ", \"epochs\": " + std::to_string(epochs_total_) +
                    ", \"steps_per_epoch\": " + std::to_string(steps_per_epoch_) +
                    ", \"heartbeat_timeout_seconds\": " + JsonNumber(heartbeat_timeout_seconds_, 7) +
                    "}, \"history\": [";
  // Merged by step; at equal steps the batch point comes first.
  size_t e = 0, b = 0;
  bool first = true;
  while (e < epochs_.size() || b < batches_.size()) {
    const bool take_batch =
        b < batches_.size() && (e == epochs_.size() || batches_[b].step <= epochs_[e].step);
    const Point& p = take_batch ? batches_[b++] : epochs_[e++];
    if (!first) out += ", ";
    first = false;
    out += std::string("{\"kind\": ") + (take_batch ? "\"batch\"" : "\"epoch\"") +
           ", \"epoch\": " + std::to_string(p.epoch) + ", \"step\": " + std::to_string(p.step) +
           ", \"loss\": " + JsonNumber(p.loss, 7) + ", \"accuracy\": " + JsonNumber(p.accuracy, 7);
    if (!take_batch) {
      out += ", \"val_loss\": " + JsonNumber(p.val_loss, 7) +
             ", \"val_accuracy\": " + JsonNumber(p.val_accuracy, 7) +
             ", \"epoch_seconds\": " + JsonNumber(p.epoch_seconds, 7);
    }
    out += ", \"examples_per_sec\": " + JsonNumber(p.examples_per_sec, 7) +
           ", \"time\": " + JsonNumber(p.time, 7) + "}";
  }
  return out + "]";
}

std::string StatusHistory::AddTo(std::string status_json) const {
  while (!status_json.empty() && std::isspace(static_cast<unsigned char>(status_json.back()))) {
    status_json.pop_back();
  }
  if (status_json.size() < 2 || status_json.front() != '{' || status_json.back() != '}') {
    return status_json;
  }
  status_json.pop_back();
  size_t last = status_json.find_last_not_of(" \t\r\n");
  const bool empty_object = last != std::string::npos && status_json[last] == '{';
  return status_json + (empty_object ? "" : ", ") + JsonMembers() + "}";
}

}  // namespace shardtrain::coordinator
