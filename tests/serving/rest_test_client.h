// Test clients for `shardtrain serve` over loopback: one well-formed HTTP/1.1
// request with Boost.Beast (Call/Post), or raw bytes over a POSIX socket
// (RawExchange) for requests no HTTP library would send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

namespace shardtrain::serving::rest_test {

namespace beast = boost::beast;
namespace http = beast::http;

struct Response {
  int status = 0;  // -1: no response
  std::string body;
  std::string content_type;
};

// One HTTP/1.1 request on a fresh connection.
inline Response Call(int port, http::verb verb, const std::string& target,
                     const std::string& body = "") {
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(port)));
  http::request<http::string_body> request(verb, target, 11);
  request.set(http::field::host, "127.0.0.1");
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  beast::error_code error;
  http::read(stream, buffer, response, error);
  return {error ? -1 : static_cast<int>(response.result_int()), response.body(),
          std::string(response[http::field::content_type])};
}

inline Response Post(int port, const std::string& target, const std::string& body) {
  return Call(port, http::verb::post, target, body);
}

inline Response Get(int port, const std::string& target) {
  return Call(port, http::verb::get, target);
}

// Sends `bytes` (then, with `half_close`, ends the sending side), reads until
// the server closes (5 s at most) and returns all it sent.
inline std::string RawExchange(int port, const std::string& bytes, bool half_close = false) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    for (size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    if (half_close) shutdown(fd, SHUT_WR);
    char buffer[4096];
    for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;)
      out.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// The status code of the first response in `raw` (-1 when none).
inline int StatusOf(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return -1;
  return std::stoi(raw.substr(9, 3));
}

}  // namespace shardtrain::serving::rest_test
