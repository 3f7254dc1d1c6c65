// PredictBatcher: opportunistic batching of :predict requests, the
// `--enable_batching` of TensorFlow Serving without its timeout. A request that
// arrives while a batch of its model runs waits in a queue; when the batch
// finishes, the thread that ran it takes every queued request for the same
// model version and signature whose inputs agree in names, dtypes and all but
// the first dimension (up to max_batch_rows rows), concatenates them along the
// first dimension, runs the model once and splits every output back by rows.
// Nothing waits for a timer: alone, a request runs at once on its own thread.
//
// Only for models whose rows are independent (each output row depends on its
// input row alone), which is why serving turns it on only when asked. A batch
// whose outputs do not all have the summed first dimension is rerun request by
// request, and a failing batch is rerun likewise so each request gets its own
// error. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serving/loaded_model.h"
#include "serving/tensor.h"

namespace shardtrain::serving {

class PredictBatcher {
 public:
  using Outputs = StatusOr<std::map<std::string, Tensor>>;
  using Done = std::function<void(Outputs)>;

  explicit PredictBatcher(int64_t max_batch_rows) : max_batch_rows_(max_batch_rows) {}

  // Runs `inputs` through model->Run(signature, ...), maybe batched with other
  // requests; calls `done` exactly once, on this thread or on the thread that
  // runs the batch.
  void Submit(std::shared_ptr<const LoadedModel> model, std::string signature,
              std::map<std::string, Tensor> inputs, Done done);

  // Requests answered, and model runs made for them (tests and /metrics).
  int64_t requests() const;
  int64_t runs() const;

 private:
  struct Request {
    std::shared_ptr<const LoadedModel> model;
    std::string signature;
    std::map<std::string, Tensor> inputs;
    int64_t rows = -1;  // first dimension shared by every input; -1: cannot batch
    Done done;
  };

  // Runs `batch` (requests that can share one run) and answers each.
  void RunBatch(std::vector<Request>& batch);
  void RunAlone(Request& request);

  const int64_t max_batch_rows_;
  mutable std::mutex mu_;
  std::deque<Request> queue_;
  bool running_ = false;
  int64_t requests_ = 0, runs_ = 0;
};

}  // namespace shardtrain::serving
