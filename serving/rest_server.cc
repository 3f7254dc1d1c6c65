#include "serving/rest_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "serving/classify_regress.h"
#include "serving/http_session.h"
#include "serving/json_tensor.h"
#include "serving/predict_batcher.h"

namespace shardtrain::serving {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Where TF Serving's --monitoring_config_file usually puts Prometheus metrics.
constexpr const char* kTfServingMetricsPath = "/monitoring/prometheus/metrics";
constexpr std::array<double, 13> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1,    2.5, 5};

using Reply = HttpReply;

http::status HttpStatusOf(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange: return http::status::bad_request;
    case StatusCode::kNotFound: return http::status::not_found;
    case StatusCode::kUnimplemented: return http::status::not_implemented;
    case StatusCode::kUnavailable: return http::status::service_unavailable;
    case StatusCode::kResourceExhausted: return http::status::too_many_requests;
    default: return http::status::internal_server_error;
  }
}

// A Prometheus counter: its HELP and TYPE lines and its value.
std::string CounterText(const std::string& name, const std::string& help, int64_t value) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
         std::to_string(value) + "\n";
}

Reply ErrorReply(const Status& status) {
  return Reply{HttpStatusOf(status.code()), "{\"error\": " + JsonQuote(status.message()) + "}"};
}

Reply MethodNotAllowed(const std::string& target, const std::string& allow) {
  return Reply{http::status::method_not_allowed,
               "{\"error\": " + JsonQuote(target + " takes " + allow) + "}", "application/json",
               allow};
}

// %XX escapes decoded (as TF Serving decodes model names and labels); others kept.
std::string PercentDecode(const std::string& text) {
  std::string out;
  for (size_t k = 0; k < text.size(); ++k) {
    unsigned value = 0;
    if (text[k] == '%' && k + 2 < text.size() &&
        std::from_chars(text.data() + k + 1, text.data() + k + 3, value, 16).ptr ==
            text.data() + k + 3) {
      out += static_cast<char>(value);
      k += 2;
    } else {
      out += text[k];
    }
  }
  return out;
}

}  // namespace

struct RestServer::Impl {
  RestServerOptions options;
  const ServedModels* models = nullptr;
  HttpSessionOptions session;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  int port = 0;

  std::mutex metrics_mutex;
  std::map<int, int64_t> requests_by_code;
  std::array<int64_t, kLatencyBuckets.size()> latency_counts{};
  int64_t latency_count = 0;
  double latency_sum = 0;

  std::unique_ptr<PredictBatcher> batcher;  // null unless max_batch_rows > 0

  using Respond = std::function<void(Reply)>;
  // What a /v1/models URL asks for.
  struct ModelCall {
    const ModelManager* model = nullptr;
    int64_t version = -1;  // -1: the highest served
    std::string action;    // "", "/metadata", ":predict", ":classify", ":regress"
  };

  void Accept();
  // Answers through `respond`, at once or (batched predicts) from the thread
  // that runs the batch.
  void Handle(const HttpRequest& request, const Respond& respond);
  Reply Route(const HttpRequest& request, const Respond& respond, bool* deferred);
  // Parses a /v1/ target into `call` (an error reply when it cannot be served).
  std::optional<Reply> ParseModelCall(const HttpRequest& request, const std::string& target,
                                      ModelCall* call);
  Reply Predict(const ModelCall& call, const std::string& body, const Respond& respond,
                bool* deferred);
  Reply ClassifyOrRegressReply(const ModelCall& call, const std::string& body);
  Reply Metadata(const ModelCall& call);
  std::string Metrics();
  void Record(int code, double seconds) {
    std::lock_guard<std::mutex> lock(metrics_mutex);
    ++requests_by_code[code];
    ++latency_count;
    latency_sum += seconds;
    for (size_t k = 0; k < kLatencyBuckets.size(); ++k) {
      if (seconds <= kLatencyBuckets[k]) ++latency_counts[k];
    }
  }
};

void RestServer::Impl::Accept() {
  // Each connection on its own strand (http_session.h).
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!error) StartHttpSession(std::move(socket), &session);
    Accept();
  });
}

void RestServer::Impl::Handle(const HttpRequest& request, const Respond& respond) {
  bool deferred = false;
  Reply reply = Route(request, respond, &deferred);
  if (!deferred) respond(std::move(reply));
}

Reply RestServer::Impl::Route(const HttpRequest& request, const Respond& respond, bool* deferred) {
  std::string target(request.target());
  if (size_t query = target.find('?'); query != std::string::npos) target.resize(query);
  const bool get = request.method() == http::verb::get;
  const bool post = request.method() == http::verb::post;
  if (target == "/metrics" || target == kTfServingMetricsPath) {
    if (!get) return MethodNotAllowed(target, "GET");
    return Reply{http::status::ok, Metrics(), "text/plain; version=0.0.4"};
  }
  // Liveness probe; also the benchmark's floor (the HTTP path without a model).
  if (target == "/healthz") {
    if (!get && !post) return MethodNotAllowed(target, "GET, POST");
    return Reply{http::status::ok, "{}"};
  }
  if (target.rfind("/v1/", 0) != 0) {
    return ErrorReply(
        NotFoundError("no endpoint " + target + "; see /v1/models/{" + models->Names() +
                      "}[/versions/N|/labels/L][:predict|:classify|:regress|/metadata]"));
  }
  ModelCall call;
  if (auto refusal = ParseModelCall(request, target, &call)) return std::move(*refusal);
  if (call.action == ":predict") return Predict(call, request.body(), respond, deferred);
  if (call.action == ":classify" || call.action == ":regress") {
    return ClassifyOrRegressReply(call, request.body());
  }
  if (call.action == "/metadata") return Metadata(call);
  auto status = call.model->StatusJson(call.version);
  if (!status.ok()) return ErrorReply(status.status());
  return Reply{http::status::ok, *status};
}

// The longest request path ParseModelCall matches against its route.
constexpr size_t kMaxRouteBytes = 4096;

// The URL grammar and messages of TF Serving's http_rest_api_util.cc: POST
// takes :predict/:classify/:regress, GET status or /metadata, anything else
// (another method included) is "Malformed request" (400).
std::optional<Reply> RestServer::Impl::ParseModelCall(const HttpRequest& request,
                                                      const std::string& target, ModelCall* call) {
  static const std::regex route(
      R"(^/v1/models(?:/([^/:]+)(?:/versions/([0-9]+)|/labels/([^/:]+))?)?(/metadata|:predict|:classify|:regress)?/?$)",
      std::regex::icase);
  // std::regex recurses once per character: a path of tens of thousands of
  // characters overflowed the stack. Real model paths are far shorter.
  if (target.size() > kMaxRouteBytes) {
    return ErrorReply(InvalidArgumentError("Malformed request: a path of " +
                                           std::to_string(target.size()) + " bytes (at most " +
                                           std::to_string(kMaxRouteBytes) + ")"));
  }
  std::smatch match;
  const bool get = request.method() == http::verb::get;
  const bool post = request.method() == http::verb::post;
  std::string action;
  const bool matched = std::regex_match(target, match, route);
  if (matched) {
    action = match[4].str();
    for (char& c : action) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const bool api_call = action == ":predict" || action == ":classify" || action == ":regress";
  if (!matched || (post && !api_call) || (get && api_call) || (!get && !post)) {
    std::string hint =
        "; use POST /v1/models/NAME[/versions/N|/labels/L]:predict|:classify|:regress "
        "or GET /v1/models/NAME[/versions/N|/labels/L][/metadata]";
    return ErrorReply(InvalidArgumentError(
        "Malformed request: " + std::string(request.method_string()) + " " + target + hint));
  }
  if (!match[1].matched) return ErrorReply(InvalidArgumentError("Missing model name in request."));
  const std::string name = PercentDecode(match[1].str());
  call->action = action;
  call->model = models->Find(name);
  if (match[2].matched) {
    const std::string text = match[2].str();
    const auto [end, error] =
        std::from_chars(text.data(), text.data() + text.size(), call->version);
    if (error != std::errc() || end != text.data() + text.size()) {
      return ErrorReply(
          InvalidArgumentError("Failed to convert version: " + text + " to numeric."));
    }
  }
  if (call->model == nullptr) {
    const std::string request_text = match[2].matched
                                         ? "Specific(" + name + ", " + match[2].str() + ")"
                                         : "Latest(" + name + ")";
    return ErrorReply(
        NotFoundError((action.empty() ? "Could not find any versions of model " + name
                                      : "Servable not found for request: " + request_text) +
                      " (this server serves " + models->Names() + ")"));
  }
  if (match[3].matched) {
    auto version = call->model->VersionForLabel(PercentDecode(match[3].str()));
    if (!version.ok()) return ErrorReply(version.status());
    call->version = *version;
  }
  return std::nullopt;
}

Reply RestServer::Impl::Predict(const ModelCall& call, const std::string& body,
                                const Respond& respond, bool* deferred) {
  auto json = ParsePredictBody(body);
  if (!json.ok()) return ErrorReply(json.status());
  auto signature_name = SignatureNameOf(*json);
  if (!signature_name.ok()) return ErrorReply(signature_name.status());
  const std::string key = signature_name->empty() ? "serving_default" : *signature_name;
  int64_t served = -1;
  auto model = call.model->Get(call.version, &served);
  if (!model.ok()) return ErrorReply(model.status());
  auto signature = (*model)->Signature(key);
  if (!signature.ok()) return ErrorReply(signature.status());
  auto request = PredictRequestFromJson(*json, **signature);
  if (!request.ok()) return ErrorReply(request.status());
  if (batcher != nullptr) {
    *deferred = true;
    // The batcher takes the inputs; a failed run is explained from a copy of their shapes.
    std::map<std::string, Tensor> shapes;
    for (const auto& [name, tensor] : request->inputs) shapes[name].shape = tensor.shape;
    batcher->Submit(*model, key, std::move(request->inputs),
                    [respond, row_format = request->row_format, shapes = std::move(shapes),
                     signature = **signature](PredictBatcher::Outputs outputs) {
                      if (!outputs.ok()) {
                        return respond(
                            ErrorReply(ExplainRunError(outputs.status(), shapes, signature)));
                      }
                      auto response = FormatPredictResponse(*outputs, row_format);
                      if (!response.ok()) return respond(ErrorReply(response.status()));
                      respond(Reply{http::status::ok, std::move(*response)});
                    });
    return Reply{};
  }
  auto outputs = (*model)->Run(key, request->inputs);
  if (!outputs.ok()) {
    return ErrorReply(ExplainRunError(outputs.status(), request->inputs, **signature));
  }
  auto response = FormatPredictResponse(*outputs, request->row_format);
  if (!response.ok()) return ErrorReply(response.status());
  return Reply{http::status::ok, *response};
}

Reply RestServer::Impl::ClassifyOrRegressReply(const ModelCall& call, const std::string& body) {
  auto json = ParsePredictBody(body);
  if (!json.ok()) return ErrorReply(json.status());
  auto signature_name = SignatureNameOf(*json);
  if (!signature_name.ok()) return ErrorReply(signature_name.status());
  int64_t served = -1;
  auto model = call.model->Get(call.version, &served);
  if (!model.ok()) return ErrorReply(model.status());
  const std::string key = signature_name->empty() ? "serving_default" : *signature_name;
  auto response = ClassifyOrRegress(**model, key, call.action == ":classify", *json);
  if (!response.ok()) return ErrorReply(response.status());
  return Reply{http::status::ok, std::move(*response)};
}

Reply RestServer::Impl::Metadata(const ModelCall& call) {
  int64_t served = -1;
  auto model = call.model->Get(call.version, &served);
  if (!model.ok()) return ErrorReply(model.status());
  std::string signatures;
  for (const auto& [key, signature] : (*model)->all_signatures()) {
    signatures += std::string(signatures.empty() ? "" : ", ") + JsonQuote(key) + ": " +
                  SignatureDefJson(signature);
  }
  return Reply{http::status::ok,
               "{\"model_spec\": {\"name\": " + JsonQuote(call.model->name()) +
                   ", \"signature_name\": \"\", \"version\": \"" + std::to_string(served) +
                   "\"}, \"metadata\": {\"signature_def\": {\"signature_def\": {" + signatures +
                   "}}}}"};
}

std::string RestServer::Impl::Metrics() {
  std::lock_guard<std::mutex> lock(metrics_mutex);
  std::string out =
      "# HELP shardtrain_serve_requests_total HTTP requests answered, by status code.\n"
      "# TYPE shardtrain_serve_requests_total counter\n";
  for (const auto& [code, count] : requests_by_code) {
    out += "shardtrain_serve_requests_total{code=\"" + std::to_string(code) + "\"} " +
           std::to_string(count) + "\n";
  }
  out += "# HELP shardtrain_serve_request_latency_seconds Time from a complete request to its reply.\n"
         "# TYPE shardtrain_serve_request_latency_seconds histogram\n";
  char line[512];
  for (size_t k = 0; k < kLatencyBuckets.size(); ++k) {
    std::snprintf(line, sizeof(line), "shardtrain_serve_request_latency_seconds_bucket{le=\"%g\"} %lld\n",
                  kLatencyBuckets[k], static_cast<long long>(latency_counts[k]));
    out += line;
  }
  std::snprintf(line, sizeof(line),
                "shardtrain_serve_request_latency_seconds_bucket{le=\"+Inf\"} %lld\n"
                "shardtrain_serve_request_latency_seconds_sum %.9g\n"
                "shardtrain_serve_request_latency_seconds_count %lld\n",
                static_cast<long long>(latency_count), latency_sum,
                static_cast<long long>(latency_count));
  out += line;
  out += CounterText("shardtrain_serve_model_loads_total", "Model versions loaded.",
                     models->load_events());
  out += CounterText("shardtrain_serve_model_load_failures_total",
                     "Model version loads that failed.", models->load_failures());
  if (batcher != nullptr) {
    out += CounterText("shardtrain_serve_batched_requests_total",
                       "Predicts answered through the batcher.", batcher->requests());
    out += CounterText("shardtrain_serve_batch_runs_total", "Model runs made for them.",
                       batcher->runs());
  }
  return out;
}

RestServer::RestServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RestServer::~RestServer() { Stop(); }

int RestServer::port() const { return impl_->port; }

StatusOr<std::unique_ptr<RestServer>> RestServer::Start(const RestServerOptions& options,
                                                        const ServedModels* models) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->models = models;
  impl->session.max_body_bytes = options.max_body_bytes;
  impl->session.idle_timeout = options.idle_timeout;
  impl->session.handle = [raw = impl.get()](const HttpRequest& request,
                                            std::function<void(Reply)> respond) {
    raw->Handle(request, respond);
  };
  impl->session.record = [raw = impl.get()](int code, double seconds) {
    raw->Record(code, seconds);
  };
  if (options.max_batch_rows > 0) {
    impl->batcher = std::make_unique<PredictBatcher>(options.max_batch_rows);
  }
  boost::system::error_code error;
  const asio::ip::address address = asio::ip::make_address(options.host, error);
  if (error) return InvalidArgumentError("--host '" + options.host + "' is not an IP address");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  impl->acceptor.open(endpoint.protocol(), error);
  if (!error) impl->acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) impl->acceptor.bind(endpoint, error);
  if (!error) impl->acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return UnavailableError("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                            ": " + error.message() + " (is the port in use? try --port)");
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int t = 0; t < std::max(1, options.threads); ++t) {
    impl->threads.emplace_back([raw = impl.get()] { raw->io.run(); });
  }
  return std::unique_ptr<RestServer>(new RestServer(std::move(impl)));
}

void RestServer::Stop() {
  if (impl_ == nullptr || impl_->threads.empty()) return;
  impl_->io.stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
  // Closed only now that no handler runs: the accept handler reads and re-arms
  // the acceptor on the pool's threads, so a close from another thread races.
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
}

}  // namespace shardtrain::serving
