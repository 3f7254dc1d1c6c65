#include "cli/init_from_optimizer.h"

#include <google/protobuf/text_format.h>

#include <sstream>
#include <vector>

#include "worker/optimizer/keras_optimizer_read.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::cli {
namespace {

using google::protobuf::FieldDescriptor;

// `field` of `optimizer` in text format ("unset" when absent, "default" for
// a zero without presence, the rate it stands for with a learning_rate of 0:
// "0.001 (default)"); messages on one line.
std::string FieldText(const config::OptimizerConfig& optimizer, const FieldDescriptor* field) {
  const google::protobuf::Reflection* reflection = optimizer.GetReflection();
  if (field->has_presence() && !reflection->HasField(optimizer, field)) return "unset";
  if (field->message_type() != nullptr) {
    const std::string value = reflection->GetMessage(optimizer, field).ShortDebugString();
    return "{" + (value.empty() ? "" : " " + value + " ") + "}";
  }
  // learning_rate has no presence: 0 means Keras's default.
  if (!field->has_presence() && !reflection->HasField(optimizer, field)) {
    if (field->name() != "learning_rate") return "default";
    std::ostringstream rate;
    rate << optimizer::DefaultLearningRate(optimizer) << " (default)";
    return rate.str();
  }
  std::string value;
  google::protobuf::TextFormat::PrintFieldValueToString(optimizer, field, -1, &value);
  return value;
}

// The kind oneof of `optimizer` as "adam { beta_1: 0.9 }", or "unset".
std::string KindText(const config::OptimizerConfig& optimizer) {
  const google::protobuf::OneofDescriptor* kind =
      optimizer.GetDescriptor()->FindOneofByName("kind");
  const FieldDescriptor* set = optimizer.GetReflection()->GetOneofFieldDescriptor(optimizer, kind);
  if (set == nullptr) return "unset";
  return std::string(set->name()) + " " + FieldText(optimizer, set);
}

// "field: CONFIG (file: FILE)" for each optimizer setting that differs,
// joined by "; ".
std::string DescribeDifferences(const config::OptimizerConfig& config,
                                const config::OptimizerConfig& file) {
  std::vector<std::string> differences;
  if (KindText(config) != KindText(file)) {
    differences.push_back("kind: " + KindText(config) + " (file: " + KindText(file) + ")");
  }
  const google::protobuf::Descriptor* descriptor = config.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->containing_oneof() != nullptr) continue;
    const std::string ours = FieldText(config, field), theirs = FieldText(file, field);
    if (ours != theirs) {
      differences.push_back(std::string(field->name()) + ": " + ours + " (file: " + theirs + ")");
    }
  }
  std::string joined;
  for (const std::string& difference : differences) {
    joined += (joined.empty() ? "" : "; ") + difference;
  }
  return joined;
}

}  // namespace

StatusOr<std::string> TakeOptimizerFromKerasFile(const std::string& path,
                                                 const storage::keras::KerasModelFile& file,
                                                 config::JobConfig* config) {
  StatusOr<config::OptimizerConfig> from_file =
      optimizer::OptimizerFromKerasFile(file.model_config_json, file.training_config_json);
  const bool config_sets_one =
      config->optimizer().kind_case() != config::OptimizerConfig::KIND_NOT_SET;
  if (from_file.status().code() == StatusCode::kNotFound) return std::string();
  if (!from_file.ok()) {
    if (config_sets_one) return std::string();
    return path + ": its optimizer is not used (" + from_file.status().message() +
           "); training with the config's defaults";
  }
  if (!config_sets_one) {
    config::OptimizerConfig combined = *from_file;
    combined.MergeFrom(config->optimizer());
    RETURN_IF_ERROR(optimizer::Optimizer::Validate(combined).WithContext(
        "the optimizer of " + path + " with the config's optimizer settings"));
    *config->mutable_optimizer() = combined;
    return "optimizer from " + path + " (the config sets none): " + combined.ShortDebugString();
  }
  const std::string differences = DescribeDifferences(config->optimizer(), *from_file);
  if (differences.empty()) return std::string();
  return "optimizer: the config's, not " + path + "'s: " + differences;
}

}  // namespace shardtrain::cli
