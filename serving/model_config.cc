#include "serving/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <set>

#include "serving/model_server_config.pb.h"
#include "storage/io/file_system.h"

namespace shardtrain::serving {
namespace {

namespace pb = google::protobuf;
using PolicyProto = tf::serving::FileSystemStoragePathSourceConfig::ServableVersionPolicy;

// Keeps the first error the text-format parser reports, as "FILE:LINE:COL: ...".
class FirstError : public pb::io::ErrorCollector {
 public:
  explicit FirstError(std::string file_name) : file_name_(std::move(file_name)) {}
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (!error_.empty()) return;
    error_ = file_name_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) +
             ": error parsing text-format ModelServerConfig: " + message;
  }
  const std::string& error() const { return error_; }

 private:
  std::string file_name_;
  std::string error_;
};

// A name that fits a /v1/models/NAME or /labels/LABEL path segment.
bool UrlSegment(const std::string& s) {
  return !s.empty() && s.find_first_of("/:?#") == std::string::npos;
}

VersionPolicy PolicyOf(const PolicyProto& proto) {
  VersionPolicy policy;
  switch (proto.policy_choice_case()) {
    case PolicyProto::kAll:
      policy.kind = VersionPolicy::Kind::kAll;
      break;
    case PolicyProto::kSpecific:
      policy.kind = VersionPolicy::Kind::kSpecific;
      policy.versions.insert(proto.specific().versions().begin(),
                             proto.specific().versions().end());
      break;
    default:  // latest, or unset: TF Serving's default latest 1 (0 counts as 1)
      policy.num_versions = std::max<int64_t>(proto.latest().num_versions(), 1);
      break;
  }
  return policy;
}

// What TF Serving rejects, or what could never serve, in one model entry.
Status CheckModel(const tf::serving::ModelConfig& config, const ModelOptions& model) {
  if (!UrlSegment(config.name())) {
    return InvalidArgumentError("model name '" + config.name() +
                                "' is empty or has '/', ':', '?' or '#'");
  }
  const std::string what = "model " + config.name() + ": ";
  if (config.base_path().empty() || config.base_path()[0] != '/') {
    return InvalidArgumentError("Expected model " + config.name() +
                                " to have an absolute path; got base_path()=" + config.base_path());
  }
  if (!config.model_platform().empty() && config.model_platform() != "tensorflow") {
    return InvalidArgumentError(what + "model_platform '" + config.model_platform() +
                                "' is not served (only \"tensorflow\")");
  }
  const VersionPolicy& policy = model.policy;
  if (policy.kind == VersionPolicy::Kind::kSpecific && policy.versions.empty()) {
    return InvalidArgumentError(what + "model_version_policy specific lists no versions");
  }
  for (int64_t v : policy.versions) {
    if (v < 0) return InvalidArgumentError(what + "version " + std::to_string(v) + " is negative");
  }
  for (const auto& [label, version] : model.labels) {
    if (!UrlSegment(label)) {
      return InvalidArgumentError(what + "version label '" + label +
                                  "' is empty or has '/', ':', '?' or '#'");
    }
    if (policy.kind == VersionPolicy::Kind::kSpecific && policy.versions.count(version) == 0) {
      return InvalidArgumentError(what + "label '" + label + "' names version " +
                                  std::to_string(version) + ", which its policy (" +
                                  policy.ToString() + ") never serves");
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<ModelOptions>> ParseModelServerConfig(const std::string& text,
                                                           const std::string& file_name) {
  tf::serving::ModelServerConfig config;
  FirstError errors(file_name);
  pb::TextFormat::ParseInfoTree locations;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&locations);
  if (!parser.ParseFromString(text, &config)) {
    return InvalidArgumentError(errors.error().empty() ? file_name + ": does not parse"
                                                       : errors.error());
  }
  if (!config.has_model_config_list() || config.model_config_list().config().empty()) {
    return InvalidArgumentError(file_name +
                                ": no model_config_list { config { ... } }: nothing to serve");
  }
  const pb::Descriptor* server = tf::serving::ModelServerConfig::descriptor();
  const pb::TextFormat::ParseInfoTree* list =
      locations.GetTreeForNested(server->FindFieldByName("model_config_list"), -1);
  const pb::FieldDescriptor* config_field =
      tf::serving::ModelConfigList::descriptor()->FindFieldByName("config");
  std::vector<ModelOptions> models;
  std::set<std::string> names;
  for (int k = 0; k < config.model_config_list().config_size(); ++k) {
    const tf::serving::ModelConfig& entry = config.model_config_list().config(k);
    ModelOptions model;
    model.name = entry.name();
    model.base_path = entry.base_path();
    model.policy = PolicyOf(entry.model_version_policy());
    model.labels.insert(entry.version_labels().begin(), entry.version_labels().end());
    Status status = CheckModel(entry, model);
    if (status.ok() && !names.insert(entry.name()).second) {
      status = InvalidArgumentError("Illegal to list model " + entry.name() +
                                    " multiple times in config list");
    }
    if (!status.ok()) {
      const int line = list == nullptr ? -1 : list->GetLocation(config_field, k).line;
      return InvalidArgumentError(file_name + ":" + std::to_string(line + 1) + ": " +
                                  status.message());
    }
    models.push_back(std::move(model));
  }
  return models;
}

StatusOr<std::vector<ModelOptions>> ReadModelServerConfig(const std::string& path) {
  auto text = storage::PosixFileSystem()->ReadFile(path);
  if (!text.ok()) {
    return NotFoundError("--model_config_file " + path + ": " + text.status().message());
  }
  return ParseModelServerConfig(*text, path);
}

}  // namespace shardtrain::serving
