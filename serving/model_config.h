// TF Serving's --model_config_file: a text-format ModelServerConfig
// (serving/model_server_config.proto, TF Serving's field names and numbers)
// with a model_config_list of models to serve, each with its name, absolute
// base_path, optional model_platform ("tensorflow"), model_version_policy
// (latest { num_versions }, specific { versions }, all {}) and
// version_labels. Errors are InvalidArgument naming the file and line:
// syntax and unknown fields (protobuf's TextFormat parser), then what TF
// Serving's ServerCore rejects (a model listed twice, a relative base path)
// and what could never serve (no name, an unknown platform, a specific policy
// without versions, a label for a version that policy excludes).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "serving/model_manager.h"

namespace shardtrain::serving {

// The models of config text `text`; `file_name` is for messages. Each
// ModelOptions has poll_seconds left at its default.
StatusOr<std::vector<ModelOptions>> ParseModelServerConfig(const std::string& text,
                                                           const std::string& file_name);

// ParseModelServerConfig of the file at `path` (NotFound when unreadable).
StatusOr<std::vector<ModelOptions>> ReadModelServerConfig(const std::string& path);

}  // namespace shardtrain::serving
