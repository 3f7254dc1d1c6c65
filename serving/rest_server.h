// RestServer: TF Serving's REST API (shared/spec/tf-formats.md §5) over
// Boost.Beast, HTTP/1.1 with keep-alive, on a pool of threads:
//   POST /v1/models/NAME[/versions/N]:predict      row ("instances") or columnar ("inputs")
//   POST /v1/models/NAME[/versions/N]:classify     tf.Example "examples" (+ "context")
//   POST /v1/models/NAME[/versions/N]:regress      (serving/classify_regress.h)
//   GET  /v1/models/NAME[/versions/N]              version status
//   GET  /v1/models/NAME[/versions/N]/metadata     signature_def JSON
//   GET  /metrics, /monitoring/prometheus/metrics   Prometheus text
//   GET|POST /healthz                               {} (liveness; the benchmark's floor)
// Errors are {"error": "..."} with TF Serving's status mapping (bad input, a
// malformed /v1/ path or an empty "instances" 400, unknown model or version
// 404, not loaded yet 503).
// Bodies over max_body_bytes get 400. Nothing a client sends can crash it.
// With max_batch_rows > 0, concurrent predicts are batched (PredictBatcher).
// Thread-safe; Stop() joins the pool.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "serving/model_manager.h"

namespace shardtrain::serving {

struct RestServerOptions {
  std::string host = "127.0.0.1";
  int port = 8501;  // 0: any free port (see RestServer::port())
  int threads = 4;
  size_t max_body_bytes = size_t{64} << 20;
  // > 0: concurrent :predict requests share model runs of up to this many rows
  // (serving/predict_batcher.h; only for models whose rows are independent).
  int64_t max_batch_rows = 0;
};

class RestServer {
 public:
  // Binds and starts serving `manager` (which outlives the server).
  static StatusOr<std::unique_ptr<RestServer>> Start(const RestServerOptions& options,
                                                     ModelManager* manager);
  ~RestServer();
  int port() const;
  void Stop();

  struct Impl;

 private:
  explicit RestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardtrain::serving
