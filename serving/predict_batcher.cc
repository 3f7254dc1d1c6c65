// Opportunistic :predict batching (contract in predict_batcher.h).
#include "serving/predict_batcher.h"

#include <utility>

namespace shardtrain::serving {
namespace {

// The first dimension shared by every input, or -1 when the inputs cannot be
// stacked (a scalar, or inputs that disagree).
int64_t SharedRows(const std::map<std::string, Tensor>& inputs) {
  int64_t rows = -1;
  for (const auto& [name, tensor] : inputs) {
    if (tensor.shape.empty()) return -1;
    if (rows >= 0 && tensor.shape[0] != rows) return -1;
    rows = tensor.shape[0];
  }
  return rows;
}

// True when `b`'s inputs can be stacked under `a`'s.
bool Compatible(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    if (ia->first != ib->first || ia->second.dtype != ib->second.dtype ||
        ia->second.shape.size() != ib->second.shape.size() ||
        !std::equal(ia->second.shape.begin() + 1, ia->second.shape.end(),
                    ib->second.shape.begin() + 1)) {
      return false;
    }
  }
  return true;
}

template <typename T>
void Append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// Rows [row, row + count) of `t` (first dimension `total`).
template <typename T>
std::vector<T> Rows(const std::vector<T>& values, int64_t total, int64_t row, int64_t count) {
  if (values.empty()) return {};
  const size_t per_row = values.size() / static_cast<size_t>(total);
  return std::vector<T>(values.begin() + static_cast<ptrdiff_t>(per_row * row),
                        values.begin() + static_cast<ptrdiff_t>(per_row * (row + count)));
}

Tensor SliceRows(const Tensor& t, int64_t total, int64_t row, int64_t count) {
  Tensor out;
  out.dtype = t.dtype;
  out.shape = t.shape;
  out.shape[0] = count;
  out.f = Rows(t.f, total, row, count);
  out.d = Rows(t.d, total, row, count);
  out.i = Rows(t.i, total, row, count);
  out.s = Rows(t.s, total, row, count);
  return out;
}

}  // namespace

void PredictBatcher::Submit(std::shared_ptr<const LoadedModel> model, std::string signature,
                            std::map<std::string, Tensor> inputs, Done done) {
  Request request{std::move(model), std::move(signature), std::move(inputs), -1, std::move(done)};
  request.rows = SharedRows(request.inputs);
  std::unique_lock<std::mutex> lock(mu_);
  ++requests_;
  queue_.push_back(std::move(request));
  if (running_) return;  // the running thread will take it
  running_ = true;
  while (!queue_.empty()) {
    // The oldest request and every queued one that can share its run.
    std::vector<Request> batch;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
    int64_t rows = batch[0].rows;
    if (rows >= 0) {
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->rows >= 0 && rows + it->rows <= max_batch_rows_ && it->model == batch[0].model &&
            it->signature == batch[0].signature && Compatible(batch[0].inputs, it->inputs)) {
          rows += it->rows;
          batch.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
    }
    lock.unlock();
    RunBatch(batch);
    lock.lock();
  }
  running_ = false;
}

void PredictBatcher::RunAlone(Request& request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++runs_;
  }
  request.done(request.model->Run(request.signature, request.inputs));
}

void PredictBatcher::RunBatch(std::vector<Request>& batch) {
  if (batch.size() == 1) return RunAlone(batch[0]);
  std::map<std::string, Tensor> stacked = batch[0].inputs;
  int64_t total = batch[0].rows;
  for (size_t k = 1; k < batch.size(); ++k) {
    for (auto& [name, tensor] : stacked) {
      const Tensor& more = batch[k].inputs.at(name);
      Append(tensor.f, more.f);
      Append(tensor.d, more.d);
      Append(tensor.i, more.i);
      Append(tensor.s, more.s);
      tensor.shape[0] += more.shape[0];
    }
    total += batch[k].rows;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++runs_;
  }
  Outputs outputs = batch[0].model->Run(batch[0].signature, stacked);
  bool splittable = outputs.ok();
  if (splittable) {
    for (const auto& [name, tensor] : *outputs) {
      if (tensor.shape.empty() || tensor.shape[0] != total) splittable = false;
    }
  }
  if (!splittable) {  // not row-wise (or an error): answer each request on its own
    for (Request& request : batch) RunAlone(request);
    return;
  }
  int64_t row = 0;
  for (Request& request : batch) {
    std::map<std::string, Tensor> mine;
    for (const auto& [name, tensor] : *outputs) {
      mine.emplace(name, SliceRows(tensor, total, row, request.rows));
    }
    row += request.rows;
    request.done(std::move(mine));
  }
}

int64_t PredictBatcher::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int64_t PredictBatcher::runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

}  // namespace shardtrain::serving
