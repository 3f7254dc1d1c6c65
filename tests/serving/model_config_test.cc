// --model_config_file: TF Serving's text-format ModelServerConfig. A config
// written as TF Serving's own tests write them (good_model_config.txt, with
// commas between fields) parses; version policies and labels come through;
// every error is an InvalidArgument naming the file and line, the parser's
// (bad_model_config.txt, unknown fields such as logging_config) and ours
// (ServerCore's duplicate-name and relative-path checks, configs that could
// never serve).
#include "serving/model_config.h"

#include <gtest/gtest.h>

namespace shardtrain::serving {
namespace {

using Kind = VersionPolicy::Kind;

TEST(ModelConfigTest, TfServingsGoodModelConfigParses) {
  // tensorflow_serving/servables/tensorflow/testdata/good_model_config.txt, paths filled in.
  auto models = ParseModelServerConfig(R"(model_config_list: {
  config: {
    name: "half_plus_two",
    base_path: "/models/half_plus_two",
    model_platform: "tensorflow"
  },
  config: {
    name: "half_plus_three",
    base_path: "/models/half_plus_three",
    model_platform: "tensorflow"
  }
})",
                                       "good.config");
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 2u);
  EXPECT_EQ((*models)[0].name, "half_plus_two");
  EXPECT_EQ((*models)[0].base_path, "/models/half_plus_two");
  // TF Serving's default policy: latest 1.
  EXPECT_EQ((*models)[0].policy.kind, Kind::kLatest);
  EXPECT_EQ((*models)[0].policy.num_versions, 1);
  EXPECT_EQ((*models)[1].name, "half_plus_three");
}

TEST(ModelConfigTest, PoliciesAndLabels) {
  auto models = ParseModelServerConfig(R"(
model_config_list {
  config { name: "a" base_path: "/m/a" model_version_policy { latest { num_versions: 2 } } }
  config { name: "b" base_path: "/m/b" model_version_policy { all {} } }
  config {
    name: "c" base_path: "/m/c"
    model_version_policy { specific { versions: 1 versions: 3 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 3 }
  }
  config { name: "d" base_path: "/m/d" model_version_policy { latest {} } model_type: TENSORFLOW }
})",
                                       "p.config");
  ASSERT_TRUE(models.ok()) << models.status();
  ASSERT_EQ(models->size(), 4u);
  EXPECT_EQ((*models)[0].policy.ToString(), "latest 2");
  EXPECT_EQ((*models)[1].policy.kind, Kind::kAll);
  EXPECT_EQ((*models)[2].policy.ToString(), "specific [1, 3]");
  EXPECT_EQ((*models)[2].labels, (std::map<std::string, int64_t>{{"canary", 3}, {"stable", 1}}));
  EXPECT_EQ((*models)[3].policy.num_versions, 1);  // 0 counts as 1, as in TF Serving
}

TEST(ModelConfigTest, ErrorsNameTheFileAndLine) {
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      // tensorflow_serving/servables/tensorflow/testdata/bad_model_config.txt
      {"improperly formatted file", "cfg:1:"},
      {"model_config_list {\n  config {\n    name: \"a\"\n    base_path: \"/m\"\n"
       "    logging_config {}\n  }\n}\n",
       "cfg:5:20: error parsing text-format ModelServerConfig: Message type "
       "\"shardtrain.tf.serving.ModelConfig\" has no field named \"logging_config\""},
      {"model_config_list { config { name: \"a\" base_path: \"/m\" model_version_policy { "
       "newest {} } } }",
       "has no field named \"newest\""},
      {"model_config_list { config { name: \"a\" base_path: \"/m\"", "cfg:1:"},
      {"", "cfg: no model_config_list"},
      {"model_config_list {\n config { name: \"a\" base_path: \"/m\" }\n"
       " config { name: \"a\" base_path: \"/n\" }\n}",
       "cfg:3: Illegal to list model a multiple times in config list"},
      {"model_config_list {\n  config { name: \"a\" base_path: \"models/a\" }\n}",
       "cfg:2: Expected model a to have an absolute path; got base_path()=models/a"},
      {"model_config_list { config { name: \"a/b\" base_path: \"/m\" } }", "model name 'a/b'"},
      {"model_config_list { config { base_path: \"/m\" } }", "model name '' is empty"},
      {"model_config_list { config { name: \"a\" base_path: \"/m\" model_platform: \"pytorch\" } }",
       "model a: model_platform 'pytorch' is not served"},
      {"model_config_list { config { name: \"a\" base_path: \"/m\" "
       "model_version_policy { specific {} } } }",
       "model a: model_version_policy specific lists no versions"},
      {"model_config_list { config { name: \"a\" base_path: \"/m\" "
       "model_version_policy { specific { versions: 2 } } "
       "version_labels { key: \"stable\" value: 1 } } }",
       "model a: label 'stable' names version 1, which its policy (specific [2]) never serves"},
  };
  for (const Case& c : cases) {
    auto models = ParseModelServerConfig(c.text, "cfg");
    ASSERT_FALSE(models.ok()) << c.text;
    EXPECT_EQ(models.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(models.status().message().find(c.message), std::string::npos)
        << c.text << " → " << models.status().message();
  }
}

TEST(ModelConfigTest, MissingFileIsNotFound) {
  auto models = ReadModelServerConfig("/nonexistent/models.config");
  EXPECT_EQ(models.status().code(), StatusCode::kNotFound);
  EXPECT_NE(models.status().message().find("/nonexistent/models.config"), std::string::npos);
}

}  // namespace
}  // namespace shardtrain::serving
