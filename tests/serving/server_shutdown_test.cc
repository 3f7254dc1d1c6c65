// Shutting the REST server down while clients keep connecting and asking, and
// model managers stopped while their poller runs: Stop() must return, every
// request started before it gets an answer or a closed connection, and
// nothing races (this binary is part of the ThreadSanitizer subset,
// scripts/sanitize.sh thread).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "serving/model_manager.h"
#include "serving/rest_server.h"
#include "serving/served_models.h"
#include "tests/serving/rest_test_client.h"

namespace shardtrain::serving {
namespace {

constexpr char kHealthz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

// A model whose base path does not exist: nothing served, the poller polls.
std::unique_ptr<ServedModels> NoModels(double poll_seconds) {
  std::vector<std::unique_ptr<ModelManager>> managers;
  managers.push_back(std::make_unique<ModelManager>("none", "/nonexistent/models", poll_seconds));
  return std::make_unique<ServedModels>(std::move(managers));
}

TEST(ServerShutdownTest, StopWhileClientsConnectAndAsk) {
  auto models = NoModels(60);
  RestServerOptions options;
  options.port = 0;
  options.threads = 3;
  for (int round = 0; round < 40; ++round) {
    auto server = RestServer::Start(options, models.get());
    ASSERT_TRUE(server.ok()) << server.status();
    const int port = (*server)->port();
    std::atomic<bool> stop{false};
    std::atomic<int> answered{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 3; ++c) {
      clients.emplace_back([&] {
        while (!stop.load()) {
          const std::string reply = rest_test::RawExchange(port, kHealthz, true);
          if (rest_test::StatusOf(reply) == 200) answered.fetch_add(1);
        }
      });
    }
    while (answered.load() < 3) std::this_thread::yield();
    (*server)->Stop();
    server->reset();  // closes what the stopped server still held: clients see EOF or a refusal
    stop.store(true);
    for (std::thread& client : clients) client.join();
  }
}

TEST(ServerShutdownTest, ModelsStopWhileThePollerPolls) {
  for (int round = 0; round < 20; ++round) {
    auto models = NoModels(0.001);
    models->Start();
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 5));
    models->Stop();
  }
}

}  // namespace
}  // namespace shardtrain::serving
