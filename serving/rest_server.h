// RestServer: TF Serving's REST API (shared/spec/tf-formats.md §5;
// tensorflow_serving/g3doc/api_rest.md) over Boost.Beast, HTTP/1.1 with
// keep-alive (serving/http_session.h), on a pool of threads. V is
// /versions/N or /labels/LABEL (a version label of the model config):
//   POST /v1/models/NAME[V]:predict      row ("instances") or columnar ("inputs")
//   POST /v1/models/NAME[V]:classify     tf.Example "examples" (+ "context")
//   POST /v1/models/NAME[V]:regress      (serving/classify_regress.h)
//   GET  /v1/models/NAME[V]              version status (every version without V)
//   GET  /v1/models/NAME[V]/metadata     signature_def JSON
//   GET  /metrics, /monitoring/prometheus/metrics   Prometheus text
//   GET|POST /healthz                     {} (liveness; the benchmark's floor)
// Without V, the highest served version answers. Errors are {"error": "..."}
// with TF Serving's status mapping and messages (http_rest_api_handler.cc,
// server_core.cc): a malformed /v1/ path or method, bad input, an empty
// "instances" or an unknown label 400; an unknown model or version 404; not
// loaded yet 503. Malformed HTTP gets 400/408/411/413/415/431/505 (see
// http_session.h); a wrong method on /healthz or /metrics 405. Nothing a
// client sends can crash it. With max_batch_rows > 0, concurrent predicts are
// batched (PredictBatcher). Thread-safe; Stop() joins the pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "serving/served_models.h"

namespace shardtrain::serving {

struct RestServerOptions {
  std::string host = "127.0.0.1";
  int port = 8501;  // 0: any free port (see RestServer::port())
  int threads = 4;
  size_t max_body_bytes = size_t{64} << 20;
  // A connection idle this long between requests is closed; a request not
  // complete after it gets 408.
  std::chrono::milliseconds idle_timeout{60000};
  // > 0: concurrent :predict requests share model runs of up to this many rows
  // (serving/predict_batcher.h; only for models whose rows are independent).
  int64_t max_batch_rows = 0;
};

class RestServer {
 public:
  // Binds and starts serving `models` (which outlive the server).
  static StatusOr<std::unique_ptr<RestServer>> Start(const RestServerOptions& options,
                                                     const ServedModels* models);
  ~RestServer();
  int port() const;
  void Stop();

  struct Impl;

 private:
  explicit RestServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardtrain::serving
