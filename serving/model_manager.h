// ModelManager: the versions of one served model (shared/spec/tf-formats.md
// §5.4). It watches the model's base path and serves the versions its
// VersionPolicy picks, as TF Serving's file-system source does (latest N,
// the default latest 1; specific versions; all), among the complete numeric
// version directories: one without saved_model.pb, or without
// variables/variables.index while its graph restores variables (a graph
// without a saver needs none, as in TF's loader), is skipped with a log line
// naming it and retried at the next poll, never loaded half-way; one that
// fails to load is retried a few times, then given up (and an older complete
// version served in its place). New versions load beside the served ones; a
// version the policy no longer picks is unloaded after them, but the last
// served version is never dropped (TF Serving's availability-preserving
// policy). Requests hold a shared_ptr to the model they started with, so a
// version is freed only after its in-flight requests finish. Version labels
// map names to versions.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "serving/loaded_model.h"

namespace shardtrain::serving {

// FileSystemStoragePathSourceConfig.ServableVersionPolicy.
struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t num_versions = 1;    // kLatest
  std::set<int64_t> versions;  // kSpecific
  // "latest 1", "all", "specific [1, 2]".
  std::string ToString() const;
};

struct ModelOptions {
  std::string name;
  std::string base_path;
  VersionPolicy policy;
  std::map<std::string, int64_t> labels;  // version_labels
  double poll_seconds = 2.0;
};

class ModelManager {
 public:
  explicit ModelManager(ModelOptions options);
  ModelManager(std::string name, std::string base_path, double poll_seconds);
  ~ModelManager();  // Stop()

  const std::string& name() const { return options_.name; }
  const ModelOptions& options() const { return options_; }

  // Loads what the policy picks once (an error when nothing can be served yet
  // is only logged: the poller keeps trying) and starts the poll thread.
  void Start();
  void Stop();
  // One scan of the base path: loads and unloads versions per the policy.
  void Poll();

  // `version` (< 0: the highest served one). Unavailable while nothing is
  // served; NotFound "Servable not found for request: Specific(NAME, V)"
  // (TF Serving's message) naming the served versions otherwise.
  StatusOr<std::shared_ptr<const LoadedModel>> Get(int64_t version, int64_t* served_version) const;

  // The version `label` names; InvalidArgument "Unrecognized servable version
  // label: L" (TF Serving's ServerCore) when the config has no such label.
  StatusOr<int64_t> VersionForLabel(const std::string& label) const;

  // GetModelStatusResponse JSON: every version this manager has loaded or
  // tried (newest first, unloaded ones as END), or only `version` (>= 0).
  // NotFound as TF Serving's GetModelStatus words it.
  StatusOr<std::string> StatusJson(int64_t version) const;

  // The versions served now, ascending.
  std::vector<int64_t> ServedVersions() const;

  int64_t load_events() const { return load_events_; }
  int64_t load_failures() const { return load_failures_; }

 private:
  struct VersionState {
    std::string state;  // LOADING, AVAILABLE, END
    std::string error_code = "OK";
    std::string error_message;
  };

  // Numeric version directories under the base path, highest first, in the
  // policy's order of preference (nullopt-like empty + false when unlistable).
  bool ListVersions(std::vector<std::pair<int64_t, std::string>>* versions);
  // Whether `dir` looks complete; logs once per directory when it does not.
  bool IsComplete(int64_t version, const std::string& dir);
  // Whether `dir` needs variables/variables.index: its graph restores
  // variables, or its saved_model.pb does not read (yet). Poll only.
  bool NeedsVariables(const std::string& dir);
  // Loads `version` from `dir` and serves it; false (state END) on failure.
  bool LoadVersion(int64_t version, const std::string& dir);
  // Unloads every served version not in `keep` (nothing when `keep` is empty).
  void UnloadAllBut(const std::set<int64_t>& keep);
  bool Servable(int64_t version) const;  // served, or not yet given up
  std::string ServedList() const;        // "1, 2" (mutex_ held)

  const ModelOptions options_;
  std::mutex poll_mutex_;  // one Poll() at a time
  mutable std::mutex mutex_;
  std::map<int64_t, std::shared_ptr<const LoadedModel>> served_;
  std::map<int64_t, VersionState> versions_;
  std::map<int64_t, int> attempts_;            // failed loads per version (given up after a few)
  std::set<std::string> reported_incomplete_;  // directories already logged as skipped
  // Directory -> (saved_model.pb size, NeedsVariables answer); under poll_mutex_.
  std::map<std::string, std::pair<uint64_t, bool>> needs_variables_;
  std::atomic<int64_t> load_events_{0}, load_failures_{0};
  std::thread poller_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace shardtrain::serving
