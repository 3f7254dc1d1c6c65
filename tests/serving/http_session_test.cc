// Malformed HTTP over a loopback socket (issue 24 point 5: the server closed
// 16 kinds of malformed request without a word). Every case gets its HTTP
// status (400, or 405/408/411/413/415/431/505 where HTTP says so) with a
// {"error": ...} body and "Connection: close", never a silently closed
// connection; the server keeps serving. Also: "Expect: 100-continue" gets its
// 100 before the body is sent.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "serving/rest_server.h"
#include "serving/served_models.h"
#include "tests/serving/rest_test_client.h"

namespace shardtrain::serving {
namespace {

using rest_test::RawExchange;
using rest_test::StatusOf;

struct Served {
  std::unique_ptr<ServedModels> models;
  std::unique_ptr<RestServer> server;
  int port() const { return server->port(); }
};

// A server for model "m" (no versions needed: these requests fail before any
// model is asked), with a 1000-byte body limit and a short idle timeout.
Served Serve() {
  Served s;
  std::vector<std::unique_ptr<ModelManager>> managers;
  managers.push_back(
      std::make_unique<ModelManager>("m", ::testing::TempDir() + "/no_models", 10.0));
  s.models = std::make_unique<ServedModels>(std::move(managers));
  RestServerOptions options;
  options.port = 0;
  options.max_body_bytes = 1000;
  options.idle_timeout = std::chrono::milliseconds(300);
  auto server = RestServer::Start(options, s.models.get());
  EXPECT_TRUE(server.ok()) << server.status();
  s.server = std::move(*server);
  return s;
}

std::string BodyOf(const std::string& raw) {
  const size_t end = raw.find("\r\n\r\n");
  return end == std::string::npos ? "" : raw.substr(end + 4);
}

const std::string kPredict = "POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n";

TEST(HttpSessionTest, EveryMalformedRequestGetsAStatusAndAJsonError) {
  Served s = Serve();
  struct Case {
    std::string name, bytes;
    int status;
    std::string message;
    bool half_close = false;
  };
  const std::vector<Case> cases = {
      {"garbage request line", "GARBAGE\r\n\r\n", 400, "malformed HTTP request"},
      {"request line with extra words", "GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400,
       "malformed HTTP request"},
      {"bad method token", "G@T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400,
       "malformed HTTP request"},
      {"bad version", "GET /healthz HTTQ/1.1\r\nHost: x\r\n\r\n", 400, "malformed HTTP request"},
      {"unsupported version", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/1.1"},
      {"control byte in target", std::string("GET /hea\x01lthz HTTP/1.1\r\nHost: x\r\n\r\n"), 400,
       "malformed HTTP request"},
      {"target not a path", "GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "starting with '/'"},
      {"HTTP/1.1 without Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "Host header"},
      {"header without colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n", 400,
       "malformed HTTP request"},
      {"space in header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400,
       "malformed HTTP request"},
      {"NUL in a header value", std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 41),
       400, "malformed HTTP request"},
      {"headers over 64 KiB",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n", 431,
       "headers are larger"},
      {"POST without Content-Length", kPredict + "\r\n{\"instances\": [1.0]}", 411,
       "needs Content-Length"},
      {"non-numeric Content-Length", kPredict + "Content-Length: abc\r\n\r\n", 400,
       "malformed HTTP request"},
      {"negative Content-Length", kPredict + "Content-Length: -1\r\n\r\n", 400,
       "malformed HTTP request"},
      {"two Content-Lengths", kPredict + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400,
       "malformed HTTP request"},
      {"Content-Length over the limit",
       kPredict + "Content-Length: 5000\r\n\r\n" + std::string(5000, ' '), 413, "--max-body-bytes"},
      {"chunked body over the limit",
       kPredict + "Transfer-Encoding: chunked\r\n\r\n7d0\r\n" + std::string(2000, ' ') +
           "\r\n0\r\n\r\n",
       413, "--max-body-bytes"},
      {"chunk size not hex", kPredict + "Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n",
       400, "malformed HTTP request"},
      {"chunk size overflow",
       kPredict + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n{}\r\n0\r\n\r\n", 400,
       "malformed HTTP request"},
      {"chunk without its CRLF", kPredict + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
       400, "malformed HTTP request"},
      {"unknown Transfer-Encoding", kPredict + "Transfer-Encoding: gzip\r\n\r\n{}", 400,
       "Transfer-Encoding 'gzip' is not supported"},
      {"compressed body", kPredict + "Content-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}", 415,
       "Content-Encoding 'gzip'"},
      {"unknown Expect", kPredict + "Expect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417,
       "Expect: 200-ok"},
      {"body cut off", kPredict + "Content-Length: 100\r\n\r\n{\"instances\"", 400,
       "ended in the middle", true},
      {"headers cut off", "GET /healthz HTTP/1.1\r\nHost:", 400, "ended in the middle", true},
      {"headers never finished", "GET /healthz HTTP/1.1\r\nHost: x\r\n", 408, "idle timeout"},
      {"bad JSON", kPredict + "Content-Length: 7\r\n\r\n{\"a\": }", 400, "malformed JSON"},
      {"wrong method on /healthz", "PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
       405, "takes GET, POST"},
      {"wrong method on /v1/", "DELETE /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n", 400,
       "Malformed request: DELETE /v1/models/m"},
  };
  for (const Case& c : cases) {
    const std::string raw = RawExchange(s.port(), c.bytes, c.half_close);
    EXPECT_EQ(StatusOf(raw), c.status) << c.name << ": " << raw.substr(0, 300);
    const auto body = nlohmann::json::parse(BodyOf(raw), nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << c.name << ": " << raw.substr(0, 300);
    EXPECT_NE(body["error"].get<std::string>().find(c.message), std::string::npos)
        << c.name << ": " << body.dump();
    // Well-formed HTTP answered by the API keeps the connection; the rest close it.
    const bool well_formed_http = c.name == "bad JSON" || c.name.rfind("wrong method", 0) == 0;
    EXPECT_EQ(raw.find("Connection: close") != std::string::npos, !well_formed_http)
        << c.name << ": " << raw;
  }
  EXPECT_EQ(StatusOf(RawExchange(s.port(),
                                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            200);
  EXPECT_EQ(StatusOf(RawExchange(s.port(), "PUT /healthz HTTP/1.1\r\nHost: x\r\n\r\n")), 405);
  EXPECT_NE(
      RawExchange(s.port(), "PUT /healthz HTTP/1.1\r\nHost: x\r\n\r\n").find("Allow: GET, POST"),
      std::string::npos);
}

// An idle keep-alive connection is closed without a reply (nothing was asked).
TEST(HttpSessionTest, IdleConnectionClosesQuietly) {
  Served s = Serve();
  EXPECT_EQ(RawExchange(s.port(), ""), "");
  // Two requests on one connection, then idle: two replies, nothing more.
  const std::string raw = RawExchange(
      s.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusOf(raw), 200);
  EXPECT_NE(raw.find("HTTP/1.1 200", 10), std::string::npos) << raw;
  EXPECT_EQ(raw.find("HTTP/1.1 408"), std::string::npos) << raw;
}

// curl sends "Expect: 100-continue" before bodies over 1 KiB and waits for the 100.
TEST(HttpSessionTest, ExpectContinueIsAnsweredBeforeTheBody) {
  Served s = Serve();
  const std::string raw = RawExchange(
      s.port(),
      "POST /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
      "Connection: close\r\n\r\n{}");
  EXPECT_EQ(raw.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 0), 0u) << raw;
}

}  // namespace
}  // namespace shardtrain::serving
