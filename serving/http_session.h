// HttpSession: one HTTP/1.1 client connection of the REST server, over
// Boost.Beast: reads a request (headers first, so "Expect: 100-continue" is
// answered and a body that cannot be taken is refused before it is read),
// hands it to the handler, writes the reply, and repeats while keep-alive.
//
// A request that is not well-formed HTTP is never closed on silently: it gets
// a status with a {"error": "..."} body and "Connection: close", and the
// connection is closed after the client's remaining bytes are drained for a
// moment (so the client reads the reply instead of a reset):
//   400  a syntax error (request line, method, target, header, chunk,
//        Content-Length, Transfer-Encoding), an HTTP/1.1 request without
//        Host, or a request cut off mid-way
//   408  headers or body not complete within the idle timeout
//   411  a POST to /v1/ without Content-Length or chunked body
//   413  a body over max_body_bytes (by Content-Length or while reading)
//   415  a Content-Encoding other than identity
//   431  headers over 64 KiB
//   505  an HTTP version other than 1.0 and 1.1
// A connection closed or idle between requests is closed without a reply.
// Sessions keep themselves alive; the socket must be bound to a strand (its
// handlers and the session's timer must not run concurrently).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace shardtrain::serving {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpReply {
  HttpReply() = default;
  HttpReply(boost::beast::http::status status, std::string body,
            std::string content_type = "application/json", std::string allow = "")
      : status(status),
        body(std::move(body)),
        content_type(std::move(content_type)),
        allow(std::move(allow)) {}

  boost::beast::http::status status = boost::beast::http::status::ok;
  std::string body;
  std::string content_type = "application/json";
  std::string allow;  // the Allow header of a 405
};

struct HttpSessionOptions {
  size_t max_body_bytes = size_t{64} << 20;
  std::chrono::steady_clock::duration idle_timeout = std::chrono::seconds(60);
  // Answers a request through `respond`, exactly once, on any thread.
  std::function<void(const HttpRequest& request, std::function<void(HttpReply)> respond)> handle;
  // Called for every reply written, with its status and the seconds from the
  // complete request (0 for malformed ones) to the reply.
  std::function<void(int status, double seconds)> record;
};

// Serves `socket` until the client leaves; `options` must outlive the session.
void StartHttpSession(boost::asio::ip::tcp::socket socket, const HttpSessionOptions* options);

}  // namespace shardtrain::serving
