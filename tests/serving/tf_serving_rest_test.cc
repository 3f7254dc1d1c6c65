// TF Serving's own REST tests as ours, on the test models they use (shared
// testdata/tf): the cases of tensorflow_serving/model_servers/
// http_rest_api_handler_test.cc (a specific-version policy serving 123 of
// saved_model_half_plus_two_2_versions, with a version label) and the REST
// parts of tensorflow_model_server_test.py (model "default", two models from
// a model config file). Then the version policies and labels of a model config
// (g3doc/serving_config.md, "Serving a specific version of a model" and
// "Assigning String Labels to Model Versions"), and the URL forms of
// g3doc/api_rest.md ("Model status API", "Model Metadata API", "Predict API":
// /v1/models/${MODEL_NAME}[/versions/${VERSION}|/labels/${LABEL}]).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "serving/model_config.h"
#include "serving/rest_server.h"
#include "serving/served_models.h"
#include "storage/saved_model/saved_model_writer.h"
#include "tests/serving/rest_test_client.h"

namespace shardtrain::serving {
namespace {

using Json = nlohmann::json;
using rest_test::Get;
using rest_test::Post;
using rest_test::Response;

std::string Tf(const std::string& name) {
  return std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/tf/" + name;
}
bool HaveTestdata() { return std::filesystem::exists(Tf("README.md")); }

struct Served {
  std::unique_ptr<ServedModels> models;
  std::unique_ptr<RestServer> server;
  int port() const { return server->port(); }
};

// Serves the models of config text `config` (TF Serving's text format).
Served ServeConfig(const std::string& config, double poll = 0.05) {
  Served s;
  auto options = ParseModelServerConfig(config, "test.config");
  EXPECT_TRUE(options.ok()) << options.status();
  std::vector<std::unique_ptr<ModelManager>> managers;
  for (ModelOptions& model : *options) {
    model.poll_seconds = poll;
    managers.push_back(std::make_unique<ModelManager>(std::move(model)));
  }
  s.models = std::make_unique<ServedModels>(std::move(managers));
  s.models->Start();
  RestServerOptions rest;
  rest.port = 0;
  auto server = RestServer::Start(rest, s.models.get());
  EXPECT_TRUE(server.ok()) << server.status();
  s.server = std::move(*server);
  return s;
}

// One config entry: name, base path and the rest of the fields as text.
std::string Model(const std::string& name, const std::string& base, const std::string& rest = "") {
  return "config { name: \"" + name + "\" base_path: \"" + base + "\" " + rest + " }\n";
}

std::string Config(const std::string& models) { return "model_config_list {\n" + models + "}\n"; }

Json JsonOf(const Response& r) { return Json::parse(r.body, nullptr, false); }

Json StatusOf(const std::vector<std::pair<int, std::string>>& versions) {
  Json list = Json::array();
  for (const auto& [version, state] : versions) {
    list.push_back({{"version", std::to_string(version)},
                    {"state", state},
                    {"status", {{"error_code", "OK"}, {"error_message", ""}}}});
  }
  return {{"model_version_status", list}};
}

class HttpRestApiHandlerCases : public ::testing::Test {
 protected:
  static constexpr const char* kName = "saved_model_half_plus_two_2_versions";
  void SetUp() override {
    if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
    served_ = ServeConfig(Config(Model(kName, Tf("serving_saved_model_half_plus_two_2_versions"),
                                       "model_version_policy { specific { versions: 123 } } "
                                       "version_labels { key: \"Version_Label\" value: 123 }")));
  }
  Response Do(const std::string& method, const std::string& target, const std::string& body = "") {
    return method == "GET" ? Get(served_.port(), target) : Post(served_.port(), target, body);
  }
  std::string Path(const std::string& rest) { return std::string("/v1/models/") + kName + rest; }
  Served served_;
};

// http_rest_api_handler_test.cc, UnsupportedApiCalls: all InvalidArgument (400).
TEST_F(HttpRestApiHandlerCases, UnsupportedApiCalls) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"GET", "/v1/foo", "Malformed request"},
      {"POST", "/v1/foo", "Malformed request"},
      {"GET", "/v1/models", "Missing model name"},
      {"GET", "/v1/models/debug/model_name", "Malformed request"},
      {"POST", "/v1/models", "Malformed request"},
      {"GET", "/v1/models/foo:predict", "Malformed request"},
      {"GET", "/v1/models/foo/version/50:predict", "Malformed request"},
      {"POST", "/v1/models/foo/version/50:regress", "Malformed request"},
      {"POST", "/v1/models/foo/versions/HELLO:regress", "Malformed request"},
      {"POST", "/v1/models/foo/versions/18446744073709551615:regress", "Failed to convert version"},
      {"POST", "/v1/models/foo/metadata", "Malformed request"},
      {"POST", "/v1/models/foo/label/some_label:regress", "Malformed request"},
      {"POST", "/v1/models/foo/versions/50/labels/some_label:regress", "Malformed request"},
      {"POST", "/v1/models/foo/versions/some_label:regress", "Malformed request"},
  };
  for (const auto& [method, target, message] : cases) {
    Response r = Do(method, target);
    EXPECT_EQ(r.status, 400) << method << " " << target << " → " << r.body;
    EXPECT_NE(JsonOf(r)["error"].get<std::string>().find(message), std::string::npos)
        << method << " " << target << " → " << r.body;
  }
}

// PredictModelNameVersionErrors: an unknown model or version is NotFound (404).
TEST_F(HttpRestApiHandlerCases, PredictModelNameVersionErrors) {
  EXPECT_EQ(Do("POST", "/v1/models/foo:predict", R"({ "instances": [1] })").status, 404);
  EXPECT_EQ(Do("POST", "/v1/models/foo/versions/50:predict", R"({ "instances": [1] })").status,
            404);
  EXPECT_EQ(Do("POST", Path("99:predict"), R"({ "instances": [1] })").status, 404);
  EXPECT_EQ(Do("POST", Path("/versions/99:predict"), R"({ "instances": [1] })").status, 404);
}

// PredictRequestErrors: all InvalidArgument (400).
TEST_F(HttpRestApiHandlerCases, PredictRequestErrors) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {":predict", "", "malformed JSON"},
      {":predict", "instances = [1, 2]", "malformed JSON"},
      {":predict", R"({ "instances": ["x", "y"] })", "expected a number"},
      {"/labels/Version_Nonexistent:predict", R"({ "instances": ["x", "y"] })",
       "Unrecognized servable version label"},
      {":predict", R"({ "signature_name": 100 })", "'signature_name' key must be a string value."},
  };
  for (const auto& [rest, body, message] : cases) {
    Response r = Do("POST", Path(rest), body);
    EXPECT_EQ(r.status, 400) << rest << " " << body << " → " << r.body;
    EXPECT_NE(r.body.find(message), std::string::npos) << rest << " " << body << " → " << r.body;
  }
}

// Predict: latest, a version, a label, an explicit signature, columnar inputs.
TEST_F(HttpRestApiHandlerCases, Predict) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {":predict", R"({"instances": [[1.0, 2.0], [3.0, 4.0]]})",
       R"({ "predictions": [[2.5, 3.0], [3.5, 4.0]] })"},
      {"/versions/123:predict", R"({"instances": [1.0, 2.0]})", R"({ "predictions": [2.5, 3.0] })"},
      {"/labels/Version_Label:predict", R"({"instances": [1.0, 2.0]})",
       R"({ "predictions": [2.5, 3.0] })"},
      {"/versions/123:predict", R"({"signature_name": "serving_default", "instances": [3.0, 4.0]})",
       R"({ "predictions": [3.5, 4.0] })"},
      {"/versions/123:predict", R"({"signature_name": "serving_default", "inputs": [3.0, 4.0]})",
       R"({ "outputs": [3.5, 4.0] })"},
  };
  for (const auto& [rest, body, expected] : cases) {
    Response r = Do("POST", Path(rest), body);
    EXPECT_EQ(r.status, 200) << rest << " " << body << " → " << r.body;
    EXPECT_EQ(JsonOf(r), Json::parse(expected)) << rest << " " << body;
    EXPECT_EQ(r.content_type, "application/json");
  }
}

TEST_F(HttpRestApiHandlerCases, RegressAndClassify) {
  const std::string regress =
      R"({"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] })";
  for (const std::string rest :
       {":regress", "/versions/123:regress", "/labels/Version_Label:regress"}) {
    Response r = Do("POST", Path(rest), regress);
    EXPECT_EQ(JsonOf(r), Json::parse(R"({ "results": [42] })")) << rest << " → " << r.body;
  }
  Response r = Do("POST", Path(":classify"),
                  R"({"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] })");
  EXPECT_EQ(JsonOf(r), Json::parse(R"({ "results": [[["", 12]]] })")) << r.body;
  r = Do("POST", Path("/labels/Version_Label:classify"),
         R"({"signature_name": "classify_x_to_y", "examples": [ { "x": 10.0 } ] })");
  EXPECT_EQ(JsonOf(r), Json::parse(R"({ "results": [[["", 7]]] })")) << r.body;
}

// GetStatus (all versions, a version, a label) and GetModelMetadata (the
// recorded response, saved_model_half_plus_two_2_versions_metadata.json).
TEST_F(HttpRestApiHandlerCases, StatusAndMetadata) {
  for (const std::string rest : {"", "/versions/123", "/labels/Version_Label"}) {
    Response r = Do("GET", Path(rest));
    EXPECT_EQ(JsonOf(r), StatusOf({{123, "AVAILABLE"}})) << rest << " → " << r.body;
  }
  std::ifstream in(
      Tf("serving_rest_metadata_examples/saved_model_half_plus_two_2_versions_metadata.json"));
  Response r = Do("GET", Path("/metadata"));
  EXPECT_EQ(JsonOf(r), Json::parse(in)) << r.body;
}

// tensorflow_model_server_test.py: testClassifyREST, testRegressREST,
// testPredictREST, testPredictColumnarREST, testGetStatusREST,
// testGetModelMetadataREST, testPrometheusEndpoint (model "default").
TEST(TensorflowModelServerRestTest, DefaultModelAnswersAsRecorded) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  Served s = ServeConfig(Config(Model("default", Tf("serving_saved_model_half_plus_two_cpu"))));
  const std::string base = "/v1/models/default";
  EXPECT_EQ(JsonOf(Post(s.port(), base + ":classify",
                        R"({"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]})")),
            Json::parse(R"({"results": [[["", 3.0]]]})"));
  EXPECT_EQ(JsonOf(Post(s.port(), base + ":regress",
                        R"({"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]})")),
            Json::parse(R"({"results": [3.0]})"));
  EXPECT_EQ(JsonOf(Post(s.port(), base + ":predict", R"({"instances": [2.0, 3.0, 4.0]})")),
            Json::parse(R"({"predictions": [3.0, 3.5, 4.0]})"));
  EXPECT_EQ(JsonOf(Post(s.port(), base + ":predict", R"({"inputs": [2.0, 3.0, 4.0]})")),
            Json::parse(R"({"outputs": [3.0, 3.5, 4.0]})"));
  EXPECT_EQ(JsonOf(Get(s.port(), base)), StatusOf({{123, "AVAILABLE"}}));
  std::ifstream in(Tf("serving_rest_metadata_examples/half_plus_two_model_metadata.json"));
  EXPECT_EQ(JsonOf(Get(s.port(), base + "/metadata")), Json::parse(in));
  EXPECT_NE(Get(s.port(), "/monitoring/prometheus/metrics").body.find("# TYPE"), std::string::npos);
}

// testGoodModelConfig: two models from one config file.
TEST(TensorflowModelServerRestTest, GoodModelConfigServesBothModels) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  Served s = ServeConfig(Config(Model("half_plus_two", Tf("serving_saved_model_half_plus_two_cpu"),
                                      "model_platform: \"tensorflow\"") +
                                Model("half_plus_three", Tf("serving_saved_model_half_plus_three"),
                                      "model_platform: \"tensorflow\"")));
  EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/half_plus_two:predict", R"({"instances": [2.0]})")),
            Json::parse(R"({"predictions": [3.0]})"));
  EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/half_plus_three:predict", R"({"instances": [2.0]})")),
            Json::parse(R"({"predictions": [4.0]})"));
  Response r = Post(s.port(), "/v1/models/half_plus_four:predict", R"({"instances": [2.0]})");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("this server serves half_plus_two, half_plus_three"), std::string::npos)
      << r.body;
}

// Version policies on the two-version base path: latest 2 and all {} serve
// both (newest first in the status, the newest answering without a version);
// the default latest 1 only 124, so a label naming 123 finds nothing (404, as
// TF Serving's Specific request), and an unknown version's status is 404.
TEST(VersionPolicyTest, LatestAllSpecificAndLabels) {
  if (!HaveTestdata()) GTEST_SKIP() << "shared/testdata/tf absent";
  const std::string base = Tf("serving_saved_model_half_plus_two_2_versions");
  Served s = ServeConfig(
      Config(Model("latest2", base, "model_version_policy { latest { num_versions: 2 } }") +
             Model("all", base, "model_version_policy { all {} }") +
             Model("latest1", base,
                   "version_labels { key: \"old\" value: 123 } version_labels { key: \"new\" "
                   "value: 124 }")));
  for (const std::string name : {"latest2", "all"}) {
    EXPECT_EQ(JsonOf(Get(s.port(), "/v1/models/" + name)),
              StatusOf({{124, "AVAILABLE"}, {123, "AVAILABLE"}}))
        << name;
    EXPECT_EQ(JsonOf(Get(s.port(), "/v1/models/" + name + "/metadata"))["model_spec"]["version"],
              "124");
    EXPECT_EQ(JsonOf(Get(s.port(),
                         "/v1/models/" + name + "/versions/123/metadata"))["model_spec"]["version"],
              "123");
    EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/" + name + "/versions/123:predict",
                          R"({"instances": [1.0]})")),
              Json::parse(R"({"predictions": [2.5]})"));
  }
  EXPECT_EQ(JsonOf(Get(s.port(), "/v1/models/latest1")), StatusOf({{124, "AVAILABLE"}}));
  EXPECT_EQ(
      JsonOf(Get(s.port(), "/v1/models/latest1/labels/new/metadata"))["model_spec"]["version"],
      "124");
  Response r = Post(s.port(), "/v1/models/latest1/labels/old:predict", R"({"instances": [1.0]})");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("Servable not found for request: Specific(latest1, 123)"),
            std::string::npos)
      << r.body;
  r = Get(s.port(), "/v1/models/latest1/versions/7");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("Could not find version 7 of model latest1"), std::string::npos) << r.body;
  r = Get(s.port(), "/v1/models/latest1/labels/nope");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Unrecognized servable version label: nope"), std::string::npos) << r.body;
}

storage::saved_model::ExportModel Linear(float weight) {
  storage::saved_model::ExportModel model;
  model.input_name = "x";
  model.input_size = 1;
  storage::saved_model::ExportLayer dense;
  dense.name = "dense";
  dense.in = dense.out = 1;
  dense.kernel = {weight};
  dense.bias = {0.0f};
  dense.activation = "linear";
  model.layers.push_back(dense);
  return model;
}

// New versions under latest 2: version 3 arrives, 1 is unloaded (END) after
// it loads; a version directory without variables is skipped with a log line
// naming it (issue 24), and the versions served stay as they were.
TEST(VersionPolicyTest, LatestTwoFollowsNewVersionsAndLogsSkippedDirectories) {
  const std::string base = ::testing::TempDir() + "/policy_latest2";
  std::filesystem::remove_all(base);
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(Linear(1.0f), base, 1).ok());
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(Linear(2.0f), base, 2).ok());
  Served s = ServeConfig(
      Config(Model("m", base, "model_version_policy { latest { num_versions: 2 } }")), 0.02);
  EXPECT_EQ(JsonOf(Get(s.port(), "/v1/models/m")), StatusOf({{2, "AVAILABLE"}, {1, "AVAILABLE"}}));
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(Linear(3.0f), base, 3).ok());
  for (int k = 0; k < 200 && s.models->Find("m")->ServedVersions() != std::vector<int64_t>{2, 3};
       ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(JsonOf(Get(s.port(), "/v1/models/m")),
            StatusOf({{3, "AVAILABLE"}, {2, "AVAILABLE"}, {1, "END"}}));
  EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/m:predict", R"({"instances": [[1.0]]})")),
            Json::parse(R"({"predictions": [[3.0]]})"));
  EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/m/versions/2:predict", R"({"instances": [[1.0]]})")),
            Json::parse(R"({"predictions": [[2.0]]})"));
  EXPECT_EQ(Post(s.port(), "/v1/models/m/versions/1:predict", R"({"instances": [[1.0]]})").status,
            404);

  ::testing::internal::CaptureStderr();
  // Made whole, then renamed into place, so no poll sees it without its graph;
  // then many 20 ms polls, even on a loaded machine.
  std::filesystem::create_directories(base + "/staging");
  std::filesystem::copy_file(base + "/3/saved_model.pb", base + "/staging/saved_model.pb");
  std::filesystem::rename(base + "/staging", base + "/4");
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(
      log.find("skipping version 4 directory " + base + "/4: it has no variables/variables.index"),
      std::string::npos)
      << log;
  EXPECT_EQ(log.find("skipping version 4", log.find("skipping version 4") + 1), std::string::npos)
      << "logged once, not at every poll: " << log;
  EXPECT_EQ(s.models->Find("m")->ServedVersions(), (std::vector<int64_t>{2, 3}));
  s.server->Stop();
  s.models->Stop();
  std::filesystem::remove_all(base);
}

// A SavedModel without variables, as SavedModelBuilder writes a frozen
// (constant-only) TF1 graph: y = x * 10 with a Const, no saver_def, and an
// empty variables/ (spec §4.1: legal, nothing is restored).
void WriteConstantOnlySavedModel(const std::string& dir) {
  tf::SavedModel saved_model;
  saved_model.set_saved_model_schema_version(1);
  tf::MetaGraphDef* meta_graph = saved_model.add_meta_graphs();
  meta_graph->mutable_meta_info_def()->add_tags("serve");
  tf::GraphDef* graph = meta_graph->mutable_graph_def();
  tf::NodeDef* x = graph->add_node();
  x->set_name("x");
  x->set_op("Placeholder");
  (*x->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
  tf::NodeDef* ten = graph->add_node();
  ten->set_name("ten");
  ten->set_op("Const");
  (*ten->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
  tf::TensorProto* value = (*ten->mutable_attr())["value"].mutable_tensor();
  value->set_dtype(tf::DT_FLOAT);
  value->add_float_val(10.0f);
  tf::NodeDef* y = graph->add_node();
  y->set_name("y");
  y->set_op("Mul");
  y->add_input("x");
  y->add_input("ten");
  (*y->mutable_attr())["T"].set_type(tf::DT_FLOAT);
  tf::SignatureDef& signature = (*meta_graph->mutable_signature_def())["serving_default"];
  signature.set_method_name("tensorflow/serving/predict");
  (*signature.mutable_inputs())["x"].set_name("x:0");
  (*signature.mutable_inputs())["x"].set_dtype(tf::DT_FLOAT);
  (*signature.mutable_outputs())["y"].set_name("y:0");
  (*signature.mutable_outputs())["y"].set_dtype(tf::DT_FLOAT);
  std::filesystem::create_directories(dir + "/variables");
  std::ofstream(dir + "/saved_model.pb", std::ios::binary) << saved_model.SerializeAsString();
}

// A version without variables/variables.index whose graph has nothing to
// restore (no saver_def) is complete, as TF's loader has it: under the
// default latest 1 it replaces version 1 and answers predict, with no
// "skipping" line. (shared/testdata/tf has no such real model: every
// artifact there has variables.)
TEST(VersionPolicyTest, VersionWithoutVariablesIsServedWhenItsGraphRestoresNone) {
  const std::string base = ::testing::TempDir() + "/policy_no_variables";
  std::filesystem::remove_all(base);
  ASSERT_TRUE(storage::saved_model::ExportSavedModel(Linear(2.0f), base, 1).ok());
  Served s = ServeConfig(Config(Model("m", base)), 0.02);
  EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/m:predict", R"({"instances": [[1.0]]})")),
            Json::parse(R"({"predictions": [[2.0]]})"));

  ::testing::internal::CaptureStderr();
  WriteConstantOnlySavedModel(base + "/staging");
  std::filesystem::rename(base + "/staging", base + "/2");
  for (int k = 0; k < 200 && s.models->Find("m")->ServedVersions() != std::vector<int64_t>{2};
       ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(log.find("skipping version 2"), std::string::npos) << log;
  EXPECT_EQ(s.models->Find("m")->ServedVersions(), (std::vector<int64_t>{2})) << log;
  EXPECT_EQ(JsonOf(Get(s.port(), "/v1/models/m")), StatusOf({{2, "AVAILABLE"}, {1, "END"}}));
  EXPECT_EQ(JsonOf(Post(s.port(), "/v1/models/m:predict", R"({"instances": [[1.0], [3.0]]})")),
            Json::parse(R"({"predictions": [[10.0], [30.0]]})"));
  s.server->Stop();
  s.models->Stop();
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace shardtrain::serving
