// Tests for coordinator/status_page: the history StatusHistory keeps from rank
// 0's heartbeats and its JSON, and the coordinator serving GET / (the page,
// byte for byte coordinator/status_page.html) and the history in GET /status.
// The page's JavaScript is exercised in a real browser by browser_test.sh
// (label `browser`).
#include "coordinator/status_page.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "coordinator/rpc/socket_io.h"

namespace shardtrain::coordinator {
namespace {

Heartbeat RankZero(int64_t epoch, int64_t step) {
  Heartbeat h;
  h.set_rank(0);
  h.set_epoch(epoch);
  h.set_step(step);
  h.set_examples(100);
  h.set_loss_sum(50);
  h.set_correct(75);
  h.set_examples_per_sec(1000);
  h.set_job_name("fashion \"mlp\"");
  h.set_epochs(3);
  h.set_steps_per_epoch(10);
  return h;
}

void FinishEpoch(Heartbeat* h, int64_t epoch) {
  h->set_last_epoch(epoch);
  h->set_last_epoch_step(10 * epoch);
  h->set_last_epoch_loss(1.0 / static_cast<double>(epoch));
  h->set_last_epoch_accuracy(0.5);
  h->set_last_epoch_val_loss(0.25);
  h->set_last_epoch_val_accuracy(0.875);
  h->set_last_epoch_examples_per_sec(2000);
  h->set_last_epoch_seconds(1.5);
}

TEST(StatusHistoryTest, EmptyHistoryBeforeRankZeroReports) {
  StatusHistory history(60);
  EXPECT_EQ(history.JsonMembers(),
            "\"job\": {\"name\": null, \"epochs\": 0, \"steps_per_epoch\": 0, "
            "\"heartbeat_timeout_seconds\": 60}, \"history\": []");
  Heartbeat other = RankZero(1, 5);
  other.set_rank(1);  // only rank 0 reports the job's totals
  history.Record(other, 1.0);
  EXPECT_EQ(history.batch_points(), 0u);
  EXPECT_NE(history.JsonMembers().find("{\"name\": null"), std::string::npos);
}

TEST(StatusHistoryTest, BatchAndEpochPointsMergedByStep) {
  StatusHistory history(60);
  history.Record(RankZero(1, 5), 0.5);
  history.Record(RankZero(1, 5), 0.75);  // same step: no new point
  Heartbeat h = RankZero(2, 12);
  FinishEpoch(&h, 1);
  history.Record(h, 1.0);
  history.Record(h, 1.5);  // epoch 1 again: kept once
  EXPECT_EQ(history.batch_points(), 2u);
  EXPECT_EQ(history.epoch_points(), 1u);
  EXPECT_EQ(history.JsonMembers(),
            "\"job\": {\"name\": \"fashion \\\"mlp\\\"\", \"epochs\": 3, \"steps_per_epoch\": 10, "
            "\"heartbeat_timeout_seconds\": 60}, \"history\": ["
            "{\"kind\": \"batch\", \"epoch\": 1, \"step\": 5, \"loss\": 0.5, \"accuracy\": 0.75, "
            "\"examples_per_sec\": 1000, \"time\": 0.5}, "
            "{\"kind\": \"epoch\", \"epoch\": 1, \"step\": 10, \"loss\": 1, \"accuracy\": 0.5, "
            "\"val_loss\": 0.25, \"val_accuracy\": 0.875, \"epoch_seconds\": 1.5, "
            "\"examples_per_sec\": 2000, \"time\": 1}, "
            "{\"kind\": \"batch\", \"epoch\": 2, \"step\": 12, \"loss\": 0.5, \"accuracy\": 0.75, "
            "\"examples_per_sec\": 1000, \"time\": 1}]");
}

TEST(StatusHistoryTest, BatchPointsAreThinnedKeepingTheSpanAndTheNewest) {
  StatusHistory history(60);
  const int64_t n = 3 * static_cast<int64_t>(StatusHistory::kMaxBatchPoints) + 7;
  for (int64_t step = 1; step <= n; ++step) {
    history.Record(RankZero(1, step), static_cast<double>(step));
    ASSERT_LE(history.batch_points(), StatusHistory::kMaxBatchPoints);
  }
  EXPECT_GE(history.batch_points(), StatusHistory::kMaxBatchPoints / 2);
  const std::string json = history.JsonMembers();
  EXPECT_NE(json.find("\"step\": " + std::to_string(n) + ","), std::string::npos);
  EXPECT_NE(json.find("\"step\": 1,"), std::string::npos);  // the span is kept
  EXPECT_EQ(json.find("\"step\": 2,"), std::string::npos);  // thinned away
}

TEST(StatusHistoryTest, NonFiniteNumbersAreNull) {
  StatusHistory history(60);
  Heartbeat h = RankZero(1, 10);
  FinishEpoch(&h, 1);
  h.set_last_epoch_val_loss(std::numeric_limits<double>::quiet_NaN());
  history.Record(h, 0);
  EXPECT_NE(history.JsonMembers().find("\"val_loss\": null"), std::string::npos);
}

TEST(StatusHistoryTest, AddToAppendsMembersToAnObject) {
  StatusHistory history(5);
  const std::string members = history.JsonMembers();
  std::string with_a = "{\"a\": 1, ";
  with_a.append(members).append("}");
  EXPECT_EQ(history.AddTo("{\"a\": 1}\n"), with_a);
  std::string alone = "{";
  alone.append(members).append("}");
  EXPECT_EQ(history.AddTo("{}"), alone);
  EXPECT_EQ(history.AddTo("[1]"), "[1]");
  EXPECT_EQ(history.AddTo(""), "");
}

// A GET request's whole response (the server closes after it).
std::string HttpGet(int port, const std::string& path) {
  const Deadline deadline = DeadlineAfter(5);
  StatusOr<int> fd = ConnectTcp("127.0.0.1", port, deadline);
  EXPECT_TRUE(fd.ok()) << fd.status();
  if (!fd.ok()) return "";
  const std::string peer = "127.0.0.1:" + std::to_string(port);
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_TRUE(WriteAll(*fd, request.data(), request.size(), deadline, peer).ok());
  std::string data;
  while (true) {
    char c;
    if (!ReadExactly(*fd, &c, 1, deadline, peer).ok()) break;
    data += c;
  }
  CloseSocket(*fd);
  return data;
}

std::string ReadSourceFile(const std::string& relative_path) {
  std::ifstream in(std::string(SHARDTRAIN_SOURCE_DIR) + "/" + relative_path, std::ios::binary);
  EXPECT_TRUE(in.good()) << relative_path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(StatusPageTest, ServedPageIsStatusPageHtmlByteForByte) {
  const std::string html = ReadSourceFile("coordinator/status_page.html");
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(std::string(kStatusPageHtml), html);

  CoordinatorOptions options;
  auto c = Coordinator::Start(options);
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string response = HttpGet((*c)->http_port(), "/");
  const size_t body = response.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos) << response.substr(0, 200);
  EXPECT_NE(response.find("Content-Length: " + std::to_string(html.size()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(response.substr(body + 4), html);
}

TEST(StatusPageTest, CoordinatorServesThePageAndTheHistory) {
  CoordinatorOptions options;
  options.world_size = 1;
  options.global_batch = 10;
  options.shard_sizes = {100};
  auto c = Coordinator::Start(options);
  ASSERT_TRUE(c.ok()) << c.status();

  const std::string page = HttpGet((*c)->http_port(), "/");
  EXPECT_EQ(page.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << page.substr(0, 200);
  EXPECT_NE(page.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(page.find("<svg id=\"loss-chart\""), std::string::npos);
  EXPECT_NE(page.find("fetch('/status'"), std::string::npos);
  // Self-contained: nothing is loaded from elsewhere.
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);

  auto client = CoordinatorClient::Connect("127.0.0.1", (*c)->port(), "", 0, 1, 5);
  ASSERT_TRUE(client.ok()) << client.status();
  Heartbeat h = RankZero(1, 7);
  ASSERT_TRUE((*client)->SendHeartbeat(h).ok());
  FinishEpoch(&h, 1);
  h.set_step(10);
  ASSERT_TRUE((*client)->SendHeartbeat(h).ok());

  const std::string status = HttpGet((*c)->http_port(), "/status");
  EXPECT_EQ(status.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << status;
  EXPECT_NE(status.find("\"job\": {\"name\": \"fashion \\\"mlp\\\"\", \"epochs\": 3"),
            std::string::npos)
      << status;
  EXPECT_NE(status.find("\"history\": [{\"kind\": \"batch\", \"epoch\": 1, \"step\": 7,"),
            std::string::npos)
      << status;
  EXPECT_NE(status.find("{\"kind\": \"epoch\", \"epoch\": 1, \"step\": 10,"), std::string::npos)
      << status;
  EXPECT_TRUE((*client)->Done().ok());
}

}  // namespace
}  // namespace shardtrain::coordinator
