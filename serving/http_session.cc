#include "serving/http_session.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <cctype>
#include <string_view>
#include <memory>
#include <optional>

#include "serving/json_tensor.h"

namespace shardtrain::serving {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr uint32_t kHeaderLimit = 64 * 1024;
// After an error reply, the client's unread bytes are drained this long at
// most, so that closing does not reset the connection before it reads the reply.
constexpr auto kDrainTime = std::chrono::seconds(2);

HttpReply Error(http::status status, const std::string& message) {
  return HttpReply{status, "{\"error\": " + JsonQuote(message) + "}"};
}

bool IsHttpParseError(const beast::error_code& error) {
  return error.category() == http::make_error_code(http::error::bad_method).category();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpSessionOptions* options)
      : stream_(std::move(socket)), options_(options) {}

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(options_->max_body_bytes);
    ArmReadDeadline();
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              self->read_deadline_.cancel();
                              if (error) return self->ReadFailed(error);
                              self->HeaderRead();
                            });
  }

 private:
  // The reply to a request whose headers are unacceptable, if any.
  std::optional<HttpReply> CheckHeader() {
    const HttpRequest& request = parser_->get();
    const unsigned version = request.version();
    if (version != 10 && version != 11) {
      return Error(http::status::http_version_not_supported,
                   "HTTP/" + std::to_string(version / 10) + "." + std::to_string(version % 10) +
                       " is not supported (HTTP/1.0 and HTTP/1.1 are)");
    }
    if (version == 11 && request.find(http::field::host) == request.end()) {
      return Error(http::status::bad_request, "an HTTP/1.1 request needs a Host header");
    }
    const beast::string_view target = request.target();
    if (target.empty() || target[0] != '/') {
      return Error(
          http::status::bad_request,
          "the request target must be a path starting with '/', not '" + std::string(target) + "'");
    }
    if (auto encoding = request.find(http::field::content_encoding);
        encoding != request.end() && !beast::iequals(encoding->value(), "identity")) {
      return Error(http::status::unsupported_media_type,
                   "Content-Encoding '" + std::string(encoding->value()) +
                       "' is not supported; send the body uncompressed");
    }
    // RFC 9112 §6.3: a request whose last transfer coding is not chunked has no
    // determinable length: 400.
    if (auto coding = request.find(http::field::transfer_encoding);
        coding != request.end() && !parser_->chunked()) {
      return Error(http::status::bad_request, "Transfer-Encoding '" + std::string(coding->value()) +
                                                  "' is not supported (only chunked)");
    }
    if (request.method() == http::verb::post && !parser_->content_length() && !parser_->chunked() &&
        target.starts_with("/v1/")) {
      return Error(http::status::length_required,
                   "a POST needs Content-Length (or Transfer-Encoding: chunked)");
    }
    return std::nullopt;
  }

  // Whether the request line read so far ends in a well-formed "HTTP/d.d"
  // other than 1.x (which the parser rejects as a bad version).
  bool RequestLineHasOtherVersion() const {
    const auto data = buffer_.data();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    const std::string_view line = text.substr(0, text.find("\r\n"));
    if (line.size() < 9) return false;
    const std::string_view version = line.substr(line.size() - 8);
    return version.substr(0, 5) == "HTTP/" && std::isdigit(static_cast<unsigned char>(version[5])) &&
           version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])) &&
           version[5] != '1';
  }

  void HeaderRead() {
    if (auto refusal = CheckHeader()) return WriteError(std::move(*refusal));
    const HttpRequest& request = parser_->get();
    if (auto expect = request.find(http::field::expect); expect != request.end()) {
      if (!beast::iequals(expect->value(), "100-continue")) {
        return WriteError(Error(http::status::expectation_failed,
                                "Expect: " + std::string(expect->value()) + " is not supported"));
      }
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(stream_, asio::buffer(kContinue),
                               [self = shared_from_this()](beast::error_code error, size_t) {
                                 if (error) return self->Close();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  void ReadBody() {
    ArmReadDeadline();
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       self->read_deadline_.cancel();
                       if (error) return self->ReadFailed(error);
                       self->Dispatch();
                     });
  }

  // Reads are timed here rather than by the stream, whose timeout closes the
  // socket: a request still incomplete at the deadline gets its 408. Handlers
  // run on the connection's strand, so cancelling the read is safe.
  void ArmReadDeadline() {
    stream_.expires_never();
    read_timed_out_ = false;
    read_deadline_.expires_after(options_->idle_timeout);
    read_deadline_.async_wait([self = shared_from_this()](beast::error_code error) {
      if (error) return;  // cancelled: the read finished
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void ReadFailed(const beast::error_code& error) {
    if (error == http::error::end_of_stream) return Close();  // left between requests
    if (read_timed_out_ && error == asio::error::operation_aborted) {
      if (!parser_->got_some() && buffer_.size() == 0) return Close();  // idle keep-alive
      return WriteError(Error(http::status::request_timeout,
                              "the request was not complete within the idle timeout"));
    }
    if (error == http::error::body_limit) {
      return WriteError(Error(http::status::payload_too_large,
                              "the request body is larger than --max-body-bytes (" +
                                  std::to_string(options_->max_body_bytes) + " bytes)"));
    }
    if (error == http::error::header_limit) {
      return WriteError(
          Error(http::status::request_header_fields_too_large,
                "the request headers are larger than " + std::to_string(kHeaderLimit) + " bytes"));
    }
    if (error == http::error::partial_message) {
      return WriteError(
          Error(http::status::bad_request, "the connection ended in the middle of the request"));
    }
    if (error == http::error::bad_version && RequestLineHasOtherVersion()) {
      return WriteError(Error(http::status::http_version_not_supported,
                              "only HTTP/1.0 and HTTP/1.1 are supported"));
    }
    if (IsHttpParseError(error)) {
      return WriteError(
          Error(http::status::bad_request, "malformed HTTP request: " + error.message()));
    }
    Close();  // a socket error: nobody to answer
  }

  void Dispatch() {
    const HttpRequest& request = parser_->get();
    const auto start = std::chrono::steady_clock::now();
    const unsigned version = request.version();
    const bool keep_alive = request.keep_alive();
    options_->handle(
        request, [self = shared_from_this(), start, version, keep_alive](HttpReply reply) {
          self->options_->record(
              static_cast<int>(reply.status),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
          // The batcher may answer from its own thread: write from the session's executor.
          asio::post(self->stream_.get_executor(),
                     [self, reply = std::move(reply), version, keep_alive]() mutable {
                       self->Write(std::move(reply), version, keep_alive);
                     });
        });
  }

  void WriteError(HttpReply reply) {
    options_->record(static_cast<int>(reply.status), 0.0);
    Write(std::move(reply), 11, false);
  }

  void Write(HttpReply reply, unsigned version, bool keep_alive) {
    response_ = {};
    response_.version(version);
    response_.result(reply.status);
    response_.set(http::field::server, "shardtrain");
    response_.set(http::field::content_type, reply.content_type);
    if (!reply.allow.empty()) response_.set(http::field::allow, reply.allow);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(reply.body);
    response_.prepare_payload();
    stream_.expires_after(options_->idle_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive](beast::error_code error, size_t) {
                        if (error) return self->Close();
                        if (!keep_alive) return self->DrainAndClose();
                        self->ReadHeader();
                      });
  }

  // Stops sending, reads what the client still sends (for kDrainTime at
  // most), then closes.
  void DrainAndClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kDrainTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code error, size_t) {
                              if (error) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  asio::steady_timer read_deadline_{stream_.get_executor()};
  bool read_timed_out_ = false;
  const HttpSessionOptions* options_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 16384> scratch_;
};

}  // namespace

void StartHttpSession(tcp::socket socket, const HttpSessionOptions* options) {
  std::make_shared<Session>(std::move(socket), options)->ReadHeader();
}

}  // namespace shardtrain::serving
