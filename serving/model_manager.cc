#include "serving/model_manager.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "common/logging.h"
#include "serving/json_tensor.h"
#include "storage/io/file_system.h"

namespace shardtrain::serving {
namespace {

// A failed load of a complete-looking version is retried this many times
// (a copy may still be finishing), then the version is given up.
constexpr int kMaxLoadAttempts = 3;

std::string CodeName(StatusCode code) {
  std::string name(StatusCodeName(code));
  std::string out;
  for (size_t k = 0; k < name.size(); ++k) {
    if (k > 0 && std::isupper(static_cast<unsigned char>(name[k]))) out += '_';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(name[k])));
  }
  return out;
}

}  // namespace

ModelManager::ModelManager(std::string name, std::string base_path, double poll_seconds)
    : name_(std::move(name)), base_path_(std::move(base_path)), poll_seconds_(poll_seconds) {}

ModelManager::~ModelManager() { Stop(); }

void ModelManager::Start() {
  Poll();
  poller_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    while (!stopping_) {
      stop_cv_.wait_for(lock, std::chrono::duration<double>(poll_seconds_));
      if (stopping_) break;
      lock.unlock();
      Poll();
      lock.lock();
    }
  });
}

void ModelManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void ModelManager::Poll() {
  storage::FileSystem* fs = storage::PosixFileSystem();
  auto entries = fs->ListDir(base_path_);
  if (!entries.ok()) {
    LOG(WARNING) << "serve: cannot list --model_base_path " << base_path_ << ": " << entries.status();
    return;
  }
  std::vector<std::pair<int64_t, std::string>> candidates;
  for (const std::string& entry : *entries) {
    if (entry.empty() || entry.size() > 18 || !std::all_of(entry.begin(), entry.end(), ::isdigit)) {
      continue;  // temporary or foreign names are not versions
    }
    candidates.emplace_back(std::stoll(entry), entry);
  }
  std::sort(candidates.rbegin(), candidates.rend());
  for (const auto& [version, entry] : candidates) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (version <= served_version_) return;  // nothing newer
      if (attempts_[version] >= kMaxLoadAttempts) continue;
    }
    const std::string dir = storage::JoinPath(base_path_, entry);
    if (!fs->FileExists(storage::JoinPath(dir, "saved_model.pb")) ||
        !fs->FileExists(storage::JoinPath(dir, "variables/variables.index"))) {
      continue;  // incomplete (still being copied?): retried at the next poll
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      versions_[version] = {"LOADING", "OK", ""};
    }
    auto loaded = LoadedModel::Load(dir);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!loaded.ok()) {
      ++load_failures_;
      ++attempts_[version];
      versions_[version] = {"END", CodeName(loaded.status().code()), loaded.status().message()};
      LOG(WARNING) << "serve: model " << name_ << " version " << version
                   << " failed to load: " << loaded.status();
      continue;  // an older complete version may still be served
    }
    ++load_events_;
    if (served_version_ >= 0) versions_[served_version_] = {"END", "OK", ""};
    served_ = std::shared_ptr<const LoadedModel>(std::move(*loaded));
    served_version_ = version;
    versions_[version] = {"AVAILABLE", "OK", ""};
    LOG(WARNING) << "serve: model " << name_ << " now serves version " << version;
    return;
  }
}

StatusOr<std::shared_ptr<const LoadedModel>> ModelManager::Get(int64_t version,
                                                               int64_t* served_version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (served_ == nullptr) {
    return UnavailableError("model '" + name_ + "' has no servable version yet (base path " +
                            base_path_ + ")");
  }
  if (version >= 0 && version != served_version_) {
    return NotFoundError("model '" + name_ + "' version " + std::to_string(version) +
                         " is not served (serving version " + std::to_string(served_version_) + ")");
  }
  *served_version = served_version_;
  return served_;
}

StatusOr<std::string> ModelManager::StatusJson(int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string items;
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
    if (version >= 0 && it->first != version) continue;
    if (version < 0 && it->second.state == "END" && it->second.error_code == "OK") continue;
    const VersionState& s = it->second;
    items += std::string(items.empty() ? "" : ", ") + "{\"version\": \"" + std::to_string(it->first) +
             "\", \"state\": \"" + s.state + "\", \"status\": {\"error_code\": \"" + s.error_code +
             "\", \"error_message\": " + JsonQuote(s.error_message) + "}}";
  }
  if (items.empty()) {
    return NotFoundError(version >= 0 ? "model '" + name_ + "' has no version " + std::to_string(version)
                                      : "model '" + name_ + "' has no versions yet");
  }
  return "{\"model_version_status\": [" + items + "]}";
}

}  // namespace shardtrain::serving
