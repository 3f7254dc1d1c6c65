#include "serving/rest_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include "common/logging.h"
#include "serving/classify_regress.h"
#include "serving/json_tensor.h"
#include "serving/predict_batcher.h"

namespace shardtrain::serving {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(60);
// Where TF Serving's --monitoring_config_file usually puts Prometheus metrics.
constexpr const char* kTfServingMetricsPath = "/monitoring/prometheus/metrics";
constexpr std::array<double, 13> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1,    2.5, 5};

struct Reply {
  http::status status = http::status::ok;
  std::string body;
  std::string content_type = "application/json";
};

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

}  // namespace

struct RestServer::Impl {
  RestServerOptions options;
  ModelManager* manager = nullptr;
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
  void Accept();
  // Answers through `respond`, at once or (batched predicts) from the thread
  // that runs the batch.
  void Handle(const http::request<http::string_body>& request, const Respond& respond);
  Reply Route(const http::request<http::string_body>& request, const Respond& respond,
              bool* deferred);
  Reply Predict(const std::string& body, int64_t version, const Respond& respond, bool* deferred);
  Reply ClassifyOrRegressReply(const std::string& body, int64_t version, bool classify);
  Reply Metadata(int64_t version);
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

namespace {

// One client connection: read a request, answer, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, RestServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(server_->options.max_body_bytes);
    stream_.expires_after(kIdleTimeout);
    auto self = shared_from_this();
    http::async_read(stream_, buffer_, *parser_, [self](beast::error_code error, size_t) {
      if (error == http::error::body_limit) {
        self->server_->Record(400, 0.0);
        return self->Write(Reply{http::status::bad_request,
                                 "{\"error\": \"the request body is larger than --max-body-bytes (" +
                                     std::to_string(self->server_->options.max_body_bytes) +
                                     " bytes)\"}"},
                           11, false);
      }
      if (error) return self->Close();
      const auto& request = self->parser_->get();
      const auto start = std::chrono::steady_clock::now();
      const unsigned version = request.version();
      const bool keep_alive = request.keep_alive();
      self->server_->Handle(request, [self, start, version, keep_alive](Reply reply) {
        self->server_->Record(
            static_cast<int>(reply.status),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        self->Write(std::move(reply), version, keep_alive);
      });
    });
  }

 private:
  void Write(Reply reply, unsigned version, bool keep_alive) {
    response_ = {};
    response_.version(version);
    response_.result(reply.status);
    response_.set(http::field::server, "shardtrain");
    response_.set(http::field::content_type, reply.content_type);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(reply.body);
    response_.prepare_payload();
    auto self = shared_from_this();
    http::async_write(stream_, response_, [self, keep_alive](beast::error_code error, size_t) {
      if (error || !keep_alive) return self->Close();
      self->Read();
    });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  RestServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
};

}  // namespace

void RestServer::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code error, tcp::socket socket) {
    if (error == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!error) std::make_shared<Session>(std::move(socket), this)->Read();
    Accept();
  });
}

void RestServer::Impl::Handle(const http::request<http::string_body>& request,
                              const Respond& respond) {
  bool deferred = false;
  Reply reply = Route(request, respond, &deferred);
  if (!deferred) respond(std::move(reply));
}

Reply RestServer::Impl::Route(const http::request<http::string_body>& request,
                              const Respond& respond, bool* deferred) {
  std::string target(request.target());
  if (size_t query = target.find('?'); query != std::string::npos) target.resize(query);
  const bool get = request.method() == http::verb::get;
  const bool post = request.method() == http::verb::post;
  if ((target == "/metrics" || target == kTfServingMetricsPath) && get) {
    return Reply{http::status::ok, Metrics(), "text/plain; version=0.0.4"};
  }
  // Liveness probe; also the benchmark's floor (the HTTP path without a model).
  if (target == "/healthz" && (get || post)) return Reply{http::status::ok, "{}"};
  static const std::regex route(
      R"(^/v1/models/([^/:]+)(?:/versions/([0-9]+))?(?:/labels/([^/:]+))?(/metadata|:predict|:classify|:regress)?/?$)",
      std::regex::icase);
  std::smatch match;
  if (!std::regex_match(target, match, route)) {
    // TF Serving: a /v1/ path it cannot parse is a malformed request (400);
    // other paths have no handler (404).
    const std::string hint = "; see /v1/models/" + manager->name() +
                             "[/versions/N][:predict|:classify|:regress|/metadata]";
    if (target.rfind("/v1/", 0) == 0) {
      return ErrorReply(InvalidArgumentError("Malformed request: " +
                                             std::string(request.method_string()) + " " +
                                             target + hint));
    }
    return ErrorReply(NotFoundError("no endpoint " + target + hint));
  }
  const std::string name = match[1].str();
  std::string action = match[4].str();
  for (char& c : action) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name != manager->name()) {
    return ErrorReply(NotFoundError("Servable not found for request: model '" + name +
                                    "' (this server serves '" + manager->name() + "')"));
  }
  if (match[3].matched) {
    return ErrorReply(NotFoundError("version labels are not supported ('" + match[3].str() +
                                    "'); use /versions/N"));
  }
  int64_t version = -1;
  if (match[2].matched) {
    if (match[2].length() > 18) return ErrorReply(InvalidArgumentError("version number too large"));
    version = std::stoll(match[2].str());
  }
  if (action == ":predict") {
    if (!post) return ErrorReply(InvalidArgumentError(":predict needs POST"));
    return Predict(request.body(), version, respond, deferred);
  }
  if (action == ":classify" || action == ":regress") {
    if (!post) return ErrorReply(InvalidArgumentError(action + " needs POST"));
    return ClassifyOrRegressReply(request.body(), version, action == ":classify");
  }
  if (!get) return ErrorReply(InvalidArgumentError("use GET for status and metadata"));
  if (action == "/metadata") return Metadata(version);
  auto status = manager->StatusJson(version);
  if (!status.ok()) return ErrorReply(status.status());
  return Reply{http::status::ok, *status};
}

Reply RestServer::Impl::Predict(const std::string& body, int64_t version, const Respond& respond,
                                bool* deferred) {
  auto json = ParsePredictBody(body);
  if (!json.ok()) return ErrorReply(json.status());
  auto signature_name = SignatureNameOf(*json);
  if (!signature_name.ok()) return ErrorReply(signature_name.status());
  const std::string key = signature_name->empty() ? "serving_default" : *signature_name;
  int64_t served = -1;
  auto model = manager->Get(version, &served);
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

Reply RestServer::Impl::ClassifyOrRegressReply(const std::string& body, int64_t version,
                                               bool classify) {
  auto json = ParsePredictBody(body);
  if (!json.ok()) return ErrorReply(json.status());
  auto signature_name = SignatureNameOf(*json);
  if (!signature_name.ok()) return ErrorReply(signature_name.status());
  int64_t served = -1;
  auto model = manager->Get(version, &served);
  if (!model.ok()) return ErrorReply(model.status());
  const std::string key = signature_name->empty() ? "serving_default" : *signature_name;
  auto response = ClassifyOrRegress(**model, key, classify, *json);
  if (!response.ok()) return ErrorReply(response.status());
  return Reply{http::status::ok, std::move(*response)};
}

Reply RestServer::Impl::Metadata(int64_t version) {
  int64_t served = -1;
  auto model = manager->Get(version, &served);
  if (!model.ok()) return ErrorReply(model.status());
  std::string signatures;
  for (const auto& [key, signature] : (*model)->all_signatures()) {
    signatures += std::string(signatures.empty() ? "" : ", ") + JsonQuote(key) + ": " +
                  SignatureDefJson(signature);
  }
  return Reply{http::status::ok,
               "{\"model_spec\": {\"name\": " + JsonQuote(manager->name()) +
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
                     manager->load_events());
  out += CounterText("shardtrain_serve_model_load_failures_total",
                     "Model version loads that failed.", manager->load_failures());
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
                                                        ModelManager* manager) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->manager = manager;
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
  asio::post(impl_->io, [impl = impl_.get()] {
    boost::system::error_code e;
    impl->acceptor.close(e);
  });
  impl_->io.stop();
  for (std::thread& thread : impl_->threads) thread.join();
  impl_->threads.clear();
}

}  // namespace shardtrain::serving
