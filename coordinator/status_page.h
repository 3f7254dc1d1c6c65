// The coordinator's live status page and the history behind its curves.
//
// StatusHistory keeps what rank 0's heartbeats report about the job (name,
// epochs, steps per epoch) and a history of points for the curves:
//   - one "epoch" point per finished epoch {epoch, step, loss, accuracy,
//     val_loss, val_accuracy, examples_per_sec, epoch_seconds, time};
//   - "batch" points {epoch, step, loss, accuracy, examples_per_sec, time}, one
//     per rank-0 heartbeat that reports a new step (running means of the epoch
//     so far). At most kMaxBatchPoints are kept: when full, every other one is
//     dropped, so the curve keeps its whole span at a coarser grain.
// `time` is seconds since the history began (the coordinator's start). Other
// ranks' heartbeats are ignored (rank 0 reports the job's global totals). Pure
// state, no locking: the coordinator calls it under its own mutex.
//
// kStatusPageHtml is the page served at GET /: coordinator/status_page.html,
// compiled in byte for byte at build time (embed_text.cmake). One
// self-contained HTML document (inline CSS, JS and SVG, no external resources)
// that polls GET /status every second and shows the job, ranks with heartbeat
// ages, epoch/step progress, examples/s, the last checkpoint, and loss/accuracy
// curves. Text from the JSON is inserted with textContent only, never as HTML.
// After each render the page sets data-points="N" on each chart's <svg> and
// data-history-points / data-state on <body>, for tests and scripts.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/coordinator.pb.h"

namespace shardtrain::coordinator {

class StatusHistory {
 public:
  static constexpr size_t kMaxBatchPoints = 512;

  explicit StatusHistory(double heartbeat_timeout_seconds)
      : heartbeat_timeout_seconds_(heartbeat_timeout_seconds) {}

  // Records a heartbeat; `seconds` is the time since the history began.
  void Record(const Heartbeat& heartbeat, double seconds);

  // The JSON members `"job": {...}, "history": [...]` (no braces). `job` has
  // name (null until rank 0 reported it), epochs, steps_per_epoch and
  // heartbeat_timeout_seconds; `history` holds the points, oldest first, each
  // with "kind": "epoch" or "batch".
  std::string JsonMembers() const;

  // `status_json` (a JSON object) with JsonMembers() added as its last members.
  // Returns it unchanged if it is not an object.
  std::string AddTo(std::string status_json) const;

  size_t epoch_points() const { return epochs_.size(); }
  size_t batch_points() const { return batches_.size(); }

 private:
  struct Point {
    int64_t epoch = 0;
    int64_t step = 0;
    double loss = 0;
    double accuracy = 0;
    double val_loss = 0;
    double val_accuracy = 0;
    double examples_per_sec = 0;
    double epoch_seconds = 0;
    double time = 0;
  };

  double heartbeat_timeout_seconds_;
  bool have_job_ = false;
  std::string job_name_;
  int64_t epochs_total_ = 0;
  int64_t steps_per_epoch_ = 0;
  std::vector<Point> epochs_;   // by epoch, ascending
  std::vector<Point> batches_;  // by step, ascending
  int64_t last_batch_step_ = -1;
};

// The HTML document served at GET / (defined in the generated status_page_html.cc).
extern const std::string_view kStatusPageHtml;

}  // namespace shardtrain::coordinator
