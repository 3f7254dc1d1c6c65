// shardtrain serve over loopback (issue 7 acceptance): TF's half_plus_two
// (newest of two versions served) and half_plus_three answer the documented
// requests; status and metadata have the shape of TF Serving's real
// responses; an exported MLP predicts what a direct forward pass computes; a
// new version swaps in under continuous requests with zero failures; every
// kind of bad input is a 4xx with {"error": ...}, and the server keeps serving;
// with batching on, concurrent requests each get exactly their own answers.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "serving/model_manager.h"
#include "serving/rest_server.h"
#include "serving/served_models.h"
#include "tests/serving/rest_test_client.h"
#include "storage/saved_model/saved_model_writer.h"

namespace shardtrain::serving {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using Json = nlohmann::json;

std::string Tf(const std::string& name) {
  return std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/tf/" + name;
}
bool HaveTestdata() { return std::filesystem::exists(Tf("README.md")); }

using rest_test::Call;
using rest_test::Post;
using rest_test::Response;

struct Served {
  std::unique_ptr<ServedModels> models;
  std::unique_ptr<RestServer> server;
  int port() const { return server->port(); }
};

Served Serve(const std::string& name, const std::string& base, double poll = 0.05,
             size_t max_body = size_t{1} << 20, int64_t max_batch_rows = 0) {
  Served s;
  std::vector<std::unique_ptr<ModelManager>> managers;
  managers.push_back(std::make_unique<ModelManager>(name, base, poll));
  s.models = std::make_unique<ServedModels>(std::move(managers));
  s.models->Start();
  RestServerOptions options;
  options.port = 0;
  options.max_body_bytes = max_body;
  options.max_batch_rows = max_batch_rows;
  auto server = RestServer::Start(options, s.models.get());
  EXPECT_TRUE(server.ok()) << server.status();
  s.server = std::move(*server);
  return s;
}

TEST(RestServerTest, HalfPlusTwoAndThreeAnswerLikeTfServing) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  Served two = Serve("half_plus_two", Tf("serving_saved_model_half_plus_two_2_versions"));
  Response r = Post(two.port(), "/v1/models/half_plus_two:predict", R"({"instances": [1.0, 2.0, 5.0]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"predictions": [2.5, 3.0, 4.5]})");
  // The newest version (124) is served; 123 is not.
  EXPECT_EQ(Post(two.port(), "/v1/models/half_plus_two/versions/124:predict",
                 R"({"inputs": {"x": [1.0]}})").body,
            R"({"outputs": [2.5]})");
  EXPECT_EQ(Post(two.port(), "/v1/models/half_plus_two/versions/123:predict", R"({"instances": [1.0]})").status,
            404);
  // Status, as GetModelStatusResponse.
  r = Call(two.port(), http::verb::get, "/v1/models/half_plus_two");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body),
            Json::parse(R"({"model_version_status": [{"version": "124", "state": "AVAILABLE",
                            "status": {"error_code": "OK", "error_message": ""}}]})"));
  // Metadata: the same JSON as TF Serving's recorded response (apart from name and version).
  r = Call(two.port(), http::verb::get, "/v1/models/half_plus_two/metadata");
  ASSERT_EQ(r.status, 200) << r.body;
  std::ifstream in(Tf("serving_rest_metadata_examples/saved_model_half_plus_two_2_versions_metadata.json"));
  Json expected = Json::parse(in);
  Json ours = Json::parse(r.body);
  EXPECT_EQ(ours["model_spec"]["version"], "124");
  EXPECT_EQ(ours["metadata"], expected["metadata"]);
  EXPECT_EQ(ours["model_spec"]["signature_name"], expected["model_spec"]["signature_name"]);

  Served three = Serve("half_plus_three", Tf("serving_saved_model_half_plus_three"));
  EXPECT_EQ(Post(three.port(), "/v1/models/half_plus_three:predict",
                 R"({"instances": [1.0, 2.0, 5.0]})").body,
            R"({"predictions": [3.5, 4.0, 5.5]})");
}

TEST(RestServerTest, BadInputIsA4xxAndTheServerKeepsServing) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  Served s = Serve("m", Tf("serving_saved_model_half_plus_two_2_versions"), 0.05, 1000);
  const std::string predict = "/v1/models/m:predict";
  struct Case {
    std::string target, body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {predict, R"({"instances": [1.0, 2.0)", 400, "malformed JSON at byte 23"},
      {predict, R"({"signature_name": "nope", "instances": [1.0]})", 400, "not found in signature def"},
      {predict, R"({"instances": ["text"]})", 400, "input 'x' (DT_FLOAT): expected a number"},
      {predict, R"({"instances": [[1.0, 2.0], [3.0]]})", 400, "different shapes"},
      {predict, R"({"instances": [1.0], "inputs": [1.0]})", 400, "exactly one of"},
      {predict, R"({"inputs": {"z": [1.0]}})", 400, "no input 'z'"},
      // HTTP's 413 Payload Too Large.
      {predict, "{\"instances\": [" + std::string(2000, ' ') + "1.0]}", 413, "--max-body-bytes"},
      {"/v1/models/other:predict", R"({"instances": [1.0]})", 404,
       "Servable not found for request: Latest(other)"},
      {"/v1/models/m/versions/7:predict", R"({"instances": [1.0]})", 404,
       "Servable not found for request: Specific(m, 7)"},
      {"/v1/models/m:regress", R"({"signature_name": "regress_x_to_y", "examples": []})", 400,
       "non-empty list"},
      // TF Serving answers a /v1/ path it cannot parse "Malformed request" with 400
      // (http_rest_api_handler_test.cc); a path outside /v1/ has no handler (404).
      {"/v1/nothing", "", 400, "Malformed request: POST /v1/nothing"},
      {"/v1/models/m/versions/x:predict", "", 400, "Malformed request"},
      {"/nothing", "", 404, "no endpoint"},
      {predict, R"({"instances": []})", 400, "is an empty list"},
      // A path long enough to overflow a recursive matcher is refused before matching.
      {"/v1/models/" + std::string(40000, 'a'), "", 400, "Malformed request: a path of 40011 bytes"},
  };
  for (const Case& c : cases) {
    Response r = Post(s.port(), c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " → " << r.body;
    EXPECT_NE(r.body.find("{\"error\": "), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(c.message), std::string::npos) << c.body << " → " << r.body;
  }
  EXPECT_EQ(Post(s.port(), predict, R"({"instances": [1.0]})").body, R"({"predictions": [2.5]})");
  Response metrics = Call(s.port(), http::verb::get, "/metrics");
  EXPECT_NE(metrics.body.find("shardtrain_serve_requests_total{code=\"400\"} 11"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("shardtrain_serve_requests_total{code=\"413\"} 1"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("shardtrain_serve_model_loads_total 1"), std::string::npos);
}

storage::saved_model::ExportModel RandomMlp(float scale) {
  storage::saved_model::ExportModel model;
  model.input_name = "dense_input";
  model.input_size = 4;
  model.add_probabilities = true;
  int64_t in = 4;
  int seed = 1;
  for (auto [out, act] : std::vector<std::pair<int64_t, std::string>>{{8, "relu"}, {3, "linear"}}) {
    storage::saved_model::ExportLayer d;
    d.name = model.layers.empty() ? "dense" : "dense_1";
    d.in = in;
    d.out = out;
    for (int64_t k = 0; k < in * out; ++k) d.kernel.push_back(scale * std::sin(static_cast<float>(++seed)));
    for (int64_t k = 0; k < out; ++k) d.bias.push_back(0.1f * std::cos(static_cast<float>(++seed)));
    d.activation = act;
    model.layers.push_back(d);
    in = out;
  }
  return model;
}

std::vector<float> Forward(const storage::saved_model::ExportModel& m, std::vector<float> x) {
  for (const auto& layer : m.layers) {
    std::vector<float> y(static_cast<size_t>(layer.out));
    for (int64_t j = 0; j < layer.out; ++j) {
      float sum = layer.bias[static_cast<size_t>(j)];
      for (int64_t i = 0; i < layer.in; ++i) sum += x[static_cast<size_t>(i)] * layer.kernel[static_cast<size_t>(i * layer.out + j)];
      y[static_cast<size_t>(j)] = layer.activation == "relu" ? std::max(sum, 0.0f) : sum;
    }
    x = y;
  }
  return x;
}

TEST(RestServerTest, ExportedModelPredictsAndSwapsVersionsWithoutFailures) {
  const std::string base = ::testing::TempDir() + "/rest_swap_models";
  std::filesystem::remove_all(base);
  const auto v1 = RandomMlp(0.5f), v2 = RandomMlp(-0.5f);
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(v1, base, 0).ok());
  Served s = Serve("mlp", base, 0.02);
  const std::string body = R"({"instances": [[0.5, -1.0, 2.0, 0.25]]})";
  Response r = Post(s.port(), "/v1/models/mlp:predict", body);
  ASSERT_EQ(r.status, 200) << r.body;
  Json prediction = Json::parse(r.body)["predictions"][0];
  const std::vector<float> expected = Forward(v1, {0.5f, -1.0f, 2.0f, 0.25f});
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(prediction["output_0"][k].get<double>(), expected[k], 1e-5);
  }
  EXPECT_NEAR(prediction["probabilities"][0].get<double>() + prediction["probabilities"][1].get<double>() +
                  prediction["probabilities"][2].get<double>(),
              1.0, 1e-5);
  // A row of the wrong width: 400 naming the input, the signature's shape and the received one.
  Response wrong = Post(s.port(), "/v1/models/mlp:predict", R"({"instances": [[1.0, 2.0]]})");
  EXPECT_EQ(wrong.status, 400);
  EXPECT_NE(wrong.body.find("input 'dense_input' expects shape [-1, 4] (DT_FLOAT; -1: any size), "
                            "got [1, 2]"),
            std::string::npos)
      << wrong.body;
  // Continuous requests from two clients while version 2 is exported and swapped in.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, served_v2{0}, total{0};
  const float v2_first = Forward(v2, {0.5f, -1.0f, 2.0f, 0.25f})[0];
  auto client = [&] {
    while (!stop) {
      Response reply = Post(s.port(), "/v1/models/mlp:predict", body);
      ++total;
      if (reply.status != 200) {
        ++failures;
        continue;
      }
      const double first = Json::parse(reply.body)["predictions"][0]["output_0"][0].get<double>();
      if (std::fabs(first - v2_first) < 1e-5) ++served_v2;
    }
  };
  std::thread a(client), b(client);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(v2, base, 0).ok());
  for (int k = 0; k < 200 && served_v2 < 20; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  a.join();
  b.join();
  EXPECT_EQ(failures, 0) << "of " << total << " requests";
  EXPECT_GE(served_v2, 20) << "version 2 was not swapped in";
  EXPECT_EQ(Json::parse(Call(s.port(), http::verb::get, "/v1/models/mlp").body)["model_version_status"][0]["version"],
            "2");
  // A half-copied version (no variables yet) is skipped, never loaded.
  std::filesystem::create_directories(base + "/3");
  std::filesystem::copy_file(base + "/2/saved_model.pb", base + "/3/saved_model.pb");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_EQ(Json::parse(Call(s.port(), http::verb::get, "/v1/models/mlp").body)["model_version_status"][0]["version"],
            "2");
  s.server->Stop();
  s.models->Stop();
  std::filesystem::remove_all(base);
}

TEST(RestServerTest, BatchedPredictsEachGetTheirOwnRows) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  Served s = Serve("half_plus_two", Tf("serving_saved_model_half_plus_two_2_versions"), 0.05,
                   size_t{1} << 20, /*max_batch_rows=*/8);
  constexpr int kClients = 8, kEach = 25;
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int k = 0; k < kEach; ++k) {
        const int a = c * 1000 + k;  // rows 2a and 2a + 1: (x / 2) + 2 is exact in float
        const std::string body = (k % 2 == 0)
            ? "{\"instances\": [" + std::to_string(2 * a) + ", " + std::to_string(2 * a + 1) + "]}"
            : "{\"inputs\": {\"x\": [" + std::to_string(2 * a) + ", " + std::to_string(2 * a + 1) + "]}}";
        Response r = Post(s.port(), "/v1/models/half_plus_two:predict", body);
        const Json expected = {a + 2.0, a + 2.5};
        const Json got = r.status == 200 ? Json::parse(r.body)[k % 2 == 0 ? "predictions" : "outputs"]
                                         : Json();
        if (got != expected) {
          ADD_FAILURE() << "client " << c << " request " << k << ": " << r.status << " " << r.body;
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // A batch with a bad request still answers the good ones.
  EXPECT_EQ(Post(s.port(), "/v1/models/half_plus_two:predict", R"({"instances": ["x"]})").status, 400);
  Response metrics = Call(s.port(), http::verb::get, "/metrics");
  EXPECT_NE(metrics.body.find("shardtrain_serve_batched_requests_total " +
                              std::to_string(kClients * kEach)),
            std::string::npos)
      << metrics.body;
  std::cout << metrics.body.substr(metrics.body.rfind("shardtrain_serve_batch_runs_total "), 40)
            << " for " << kClients * kEach << " requests\n";
}

// A TF Serving client addresses the input by the model's Input layer name
// (g3doc/api_rest.md, "Predict API": "instances" objects and "inputs" keyed by
// input name); batched or not, a wrong shape is a 400 naming that input; the
// metrics are also at TF Serving's /monitoring/prometheus/metrics.
TEST(RestServerTest, NamedInputAnswersLikeTfServing) {
  const std::string base = ::testing::TempDir() + "/rest_named_input";
  std::filesystem::remove_all(base);
  auto model = RandomMlp(0.5f);
  model.input_name = "pixels";
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(model, base, 0).ok());
  const float expected = Forward(model, {0.5f, -1.0f, 2.0f, 0.25f})[0];
  for (int64_t batch_rows : {0, 8}) {
    Served s = Serve("mlp", base, 0.05, size_t{1} << 20, batch_rows);
    Response r = Post(s.port(), "/v1/models/mlp:predict",
                      R"({"instances": [{"pixels": [0.5, -1.0, 2.0, 0.25]}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NEAR(Json::parse(r.body)["predictions"][0]["output_0"][0].get<double>(), expected, 1e-5);
    r = Post(s.port(), "/v1/models/mlp:predict", R"({"inputs": {"pixels": [[0.5, -1.0, 2.0, 0.25]]}})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NEAR(Json::parse(r.body)["outputs"]["output_0"][0][0].get<double>(), expected, 1e-5);
    r = Post(s.port(), "/v1/models/mlp:predict", R"({"inputs": {"pixels": [[1.0, 2.0, 3.0]]}})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("input 'pixels' expects shape [-1, 4] (DT_FLOAT; -1: any size), got [1, 3]"),
              std::string::npos)
        << r.body;
    r = Post(s.port(), "/v1/models/mlp:predict", R"({"inputs": {"dense_input": [[1.0, 2.0, 3.0, 4.0]]}})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("no input 'dense_input'"), std::string::npos) << r.body;
    r = Call(s.port(), http::verb::get, "/v1/models/mlp/metadata");
    EXPECT_TRUE(Json::parse(r.body)["metadata"]["signature_def"]["signature_def"]["serving_default"]
                    ["inputs"]
                        .contains("pixels"))
        << r.body;
    r = Call(s.port(), http::verb::get, "/monitoring/prometheus/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("shardtrain_serve_requests_total{code=\"400\"} 2"), std::string::npos)
        << r.body;
  }
}

// The signature input is the client's name: one that clashes with a node the
// export makes is refused rather than written as a broken graph.
TEST(SavedModelWriterTest, InputNameClashingWithAGraphNodeIsInvalidArgument) {
  auto model = RandomMlp(0.5f);
  model.input_name = "output_0";
  EXPECT_EQ(storage::saved_model::BuildSavedModel(model).status().code(),
            StatusCode::kInvalidArgument);
  model.input_name = "pixels";
  EXPECT_TRUE(storage::saved_model::BuildSavedModel(model).ok());
}

// TF Serving's Classify and Regress API (g3doc/api_rest.md, "Classify and
// Regress API"; http_rest_api_handler_test.cc's half_plus_two cases): the
// signatures take serialized tf.Example through ParseExample; "context"
// features reach every example that lacks them; the answer is "results".
TEST(RestServerTest, ClassifyAndRegressAnswerLikeTfServing) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  Served s = Serve("m", Tf("serving_saved_model_half_plus_two_cpu"));
  Response r = Post(s.port(), "/v1/models/m:regress",
                    R"({"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"results": [42]})");
  r = Post(s.port(), "/v1/models/m/versions/123:classify",
           R"({"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}, {"x": 1.0}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"results": [[["", 12]], [["", 2.5]]]})");
  r = Post(s.port(), "/v1/models/m:regress",
           R"({"signature_name": "regress_x_to_y", "context": {"x": 1.0},
               "examples": [{}, {"x": 3.0}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"results": [2.5, 3.5]})");
  struct Case {
    std::string target, body;
    std::string message;
  };
  const std::vector<Case> bad = {
      // A whole number is an int64 feature; the signature parses x as float.
      {":regress", R"({"signature_name": "regress_x_to_y", "examples": [{"x": 80}]})",
       "example 0, feature 'x': expected a float_list"},
      {":regress", R"({"signature_name": "regress_x_to_y", "examples": [{"y": 1.0}]})",
       "feature 'x' is required"},
      {":regress", R"({"examples": [{"x": 1.0}]})", "one DT_STRING input 'inputs'"},
      {":classify", R"({"signature_name": "classify_x_to_y", "examples": [{"x": [1.0, "a"]}]})",
       "example 0, feature 'x'"},
      {":classify", R"({"signature_name": "classify_x_to_y", "examples": [3.0]})",
       "objects of features"},
  };
  for (const Case& c : bad) {
    r = Post(s.port(), "/v1/models/m" + c.target, c.body);
    EXPECT_EQ(r.status, 400) << c.body << " → " << r.body;
    EXPECT_NE(r.body.find(c.message), std::string::npos) << c.body << " → " << r.body;
  }
}

}  // namespace
}  // namespace shardtrain::serving
