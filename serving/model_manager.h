// ModelManager: the versions of one served model (shared/spec/tf-formats.md
// §5.4). It watches --model_base_path, and serves the highest numeric
// version that loads: a directory without saved_model.pb or
// variables/variables.index is skipped and retried later, never loaded
// half-way. A new version is loaded beside the old one and swapped in
// atomically; requests hold a shared_ptr to the model they started with, so
// the old version is unloaded only after its in-flight requests finish.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "serving/loaded_model.h"

namespace shardtrain::serving {

class ModelManager {
 public:
  ModelManager(std::string name, std::string base_path, double poll_seconds);
  ~ModelManager();  // Stop()

  const std::string& name() const { return name_; }

  // Loads the newest version once (an error when none can be served yet is
  // only logged: the poller keeps trying) and starts the poll thread.
  void Start();
  void Stop();
  // One scan: loads a newer complete version if there is one.
  void Poll();

  // The served model, or the given version when it is the one served.
  // NotFound names what is available.
  StatusOr<std::shared_ptr<const LoadedModel>> Get(int64_t version, int64_t* served_version) const;

  // GetModelStatusResponse JSON (all known versions, or one).
  StatusOr<std::string> StatusJson(int64_t version) const;

  int64_t load_events() const { return load_events_; }
  int64_t load_failures() const { return load_failures_; }

 private:
  struct VersionState {
    std::string state;  // LOADING, AVAILABLE, END
    std::string error_code = "OK";
    std::string error_message;
  };

  const std::string name_;
  const std::string base_path_;
  const double poll_seconds_;
  mutable std::mutex mutex_;
  std::shared_ptr<const LoadedModel> served_;
  int64_t served_version_ = -1;
  std::map<int64_t, VersionState> versions_;
  std::map<int64_t, int> attempts_;  // failed loads per version (given up after a few)
  std::atomic<int64_t> load_events_{0}, load_failures_{0};
  std::thread poller_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
};

}  // namespace shardtrain::serving
