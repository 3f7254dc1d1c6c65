#include "serving/model_manager.h"

#include <algorithm>
#include <cctype>
#include <charconv>
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

// A directory name that is a base-10 int64 (TF Serving's ParseVersionNumber).
bool ParseVersion(const std::string& entry, int64_t* version) {
  if (entry.empty() || !std::all_of(entry.begin(), entry.end(), ::isdigit)) return false;
  const auto [end, error] = std::from_chars(entry.data(), entry.data() + entry.size(), *version);
  return error == std::errc() && end == entry.data() + entry.size();
}

}  // namespace

std::string VersionPolicy::ToString() const {
  switch (kind) {
    case Kind::kLatest:
      return "latest " + std::to_string(num_versions);
    case Kind::kAll:
      return "all";
    case Kind::kSpecific: {
      std::string out;
      for (int64_t v : versions) out += (out.empty() ? "" : ", ") + std::to_string(v);
      return "specific [" + out + "]";
    }
  }
  return "";
}

ModelManager::ModelManager(ModelOptions options) : options_(std::move(options)) {}

ModelManager::ModelManager(std::string name, std::string base_path, double poll_seconds)
    : ModelManager(ModelOptions{std::move(name), std::move(base_path), {}, {}, poll_seconds}) {}

ModelManager::~ModelManager() { Stop(); }

void ModelManager::Start() {
  Poll();
  poller_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(stop_mutex_);
    while (!stopping_) {
      stop_cv_.wait_for(lock, std::chrono::duration<double>(options_.poll_seconds));
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

bool ModelManager::ListVersions(std::vector<std::pair<int64_t, std::string>>* versions) {
  auto entries = storage::PosixFileSystem()->ListDir(options_.base_path);
  if (!entries.ok()) {
    LOG(WARNING) << "serve: model " << name() << ": cannot list base path " << options_.base_path
                 << ": " << entries.status();
    return false;
  }
  std::map<int64_t, std::string> by_version;
  for (const std::string& entry : *entries) {
    int64_t version = 0;
    if (!ParseVersion(entry, &version)) continue;  // temporary or foreign names are not versions
    if (auto [it, added] = by_version.emplace(version, entry); !added) {
      LOG(WARNING) << "serve: model " << name() << ": directories " << it->second << " and "
                   << entry << " are both version " << version << "; " << entry << " is ignored";
    }
  }
  versions->assign(by_version.rbegin(), by_version.rend());
  return true;
}

bool ModelManager::IsComplete(int64_t version, const std::string& dir) {
  storage::FileSystem* fs = storage::PosixFileSystem();
  const char* missing = nullptr;
  if (!fs->FileExists(storage::JoinPath(dir, "saved_model.pb"))) {
    missing = "saved_model.pb";
  } else if (!fs->FileExists(storage::JoinPath(dir, "variables/variables.index")) &&
             NeedsVariables(dir)) {
    missing = "variables/variables.index";
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (missing == nullptr) {
    reported_incomplete_.erase(dir);
    return true;
  }
  if (reported_incomplete_.insert(dir).second) {
    LOG(WARNING) << "serve: model " << name() << ": skipping version " << version << " directory "
                 << dir << ": it has no " << missing
                 << " (incomplete or still being copied; looked at again at every poll)";
  }
  return false;
}

// Spec §4.1/§4.2 step 4: without variables/variables.index TF's loader skips
// the restore ("no variables; no checkpoints were restored"), so the index is
// needed only when the graph restores variables (LoadedModel::RestoresVariables:
// a saver_def with a restore op, TF's own test). A saved_model.pb that does not
// read yet (still being copied) counts as needing them, as all versions did
// before. The answer is kept per directory and saved_model.pb size, so a
// served variable-less version is not parsed again at every poll.
bool ModelManager::NeedsVariables(const std::string& dir) {
  auto size = storage::PosixFileSystem()->FileSize(storage::JoinPath(dir, "saved_model.pb"));
  if (!size.ok()) return true;
  auto cached = needs_variables_.find(dir);
  if (cached != needs_variables_.end() && cached->second.first == *size) {
    return cached->second.second;
  }
  auto restores = LoadedModel::RestoresVariables(dir);
  if (!restores.ok()) return true;
  needs_variables_[dir] = {*size, *restores};
  return *restores;
}

bool ModelManager::LoadVersion(int64_t version, const std::string& dir) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    versions_[version] = {"LOADING", "OK", ""};
  }
  auto loaded = LoadedModel::Load(dir);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!loaded.ok()) {
    ++load_failures_;
    const int attempts = ++attempts_[version];
    versions_[version] = {"END", CodeName(loaded.status().code()), loaded.status().message()};
    LOG(WARNING) << "serve: model " << name() << " version " << version << " (" << dir
                 << ") failed to load"
                 << (attempts >= kMaxLoadAttempts
                         ? ", given up after " + std::to_string(attempts) + " attempts"
                         : "")
                 << ": " << loaded.status();
    return false;
  }
  ++load_events_;
  served_[version] = std::shared_ptr<const LoadedModel>(std::move(*loaded));
  versions_[version] = {"AVAILABLE", "OK", ""};
  LOG(WARNING) << "serve: model " << name() << " now serves version " << version;
  return true;
}

void ModelManager::UnloadAllBut(const std::set<int64_t>& keep) {
  if (keep.empty()) return;  // never drop the last served version
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = served_.begin(); it != served_.end();) {
    if (keep.count(it->first) > 0) {
      ++it;
      continue;
    }
    versions_[it->first] = {"END", "OK", ""};
    LOG(WARNING) << "serve: model " << name() << " unloads version " << it->first << " (policy "
                 << options_.policy.ToString() << ")";
    it = served_.erase(it);
  }
}

bool ModelManager::Servable(int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (served_.count(version) > 0) return true;
  auto it = attempts_.find(version);
  return it == attempts_.end() || it->second < kMaxLoadAttempts;
}

void ModelManager::Poll() {
  std::lock_guard<std::mutex> poll_lock(poll_mutex_);
  std::vector<std::pair<int64_t, std::string>> versions;
  if (!ListVersions(&versions)) return;
  const VersionPolicy& policy = options_.policy;
  const size_t wanted = policy.kind == VersionPolicy::Kind::kLatest
                            ? static_cast<size_t>(std::max<int64_t>(policy.num_versions, 1))
                            : versions.size();
  std::set<int64_t> keep;
  for (const auto& [version, entry] : versions) {
    if (keep.size() >= wanted) break;
    if (policy.kind == VersionPolicy::Kind::kSpecific && policy.versions.count(version) == 0) {
      continue;
    }
    if (!Servable(version)) continue;
    const std::string dir = storage::JoinPath(options_.base_path, entry);
    if (!IsComplete(version, dir)) continue;
    bool served;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      served = served_.count(version) > 0;
    }
    if (served || LoadVersion(version, dir)) keep.insert(version);
  }
  UnloadAllBut(keep);
}

std::string ModelManager::ServedList() const {
  std::string out;
  for (const auto& entry : served_) out += (out.empty() ? "" : ", ") + std::to_string(entry.first);
  return out;
}

StatusOr<std::shared_ptr<const LoadedModel>> ModelManager::Get(int64_t version,
                                                               int64_t* served_version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (served_.empty()) {
    return UnavailableError("model '" + name() + "' has no servable version yet (base path " +
                            options_.base_path + ")");
  }
  auto it = version < 0 ? std::prev(served_.end()) : served_.find(version);
  if (it == served_.end()) {
    return NotFoundError("Servable not found for request: Specific(" + name() + ", " +
                         std::to_string(version) + ") (served versions: " + ServedList() + ")");
  }
  *served_version = it->first;
  return it->second;
}

StatusOr<int64_t> ModelManager::VersionForLabel(const std::string& label) const {
  auto it = options_.labels.find(label);
  if (it == options_.labels.end()) {
    return InvalidArgumentError("Unrecognized servable version label: " + label);
  }
  return it->second;
}

std::vector<int64_t> ModelManager::ServedVersions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int64_t> out;
  for (const auto& entry : served_) out.push_back(entry.first);
  return out;
}

StatusOr<std::string> ModelManager::StatusJson(int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string items;
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
    if (version >= 0 && it->first != version) continue;
    const VersionState& s = it->second;
    items += std::string(items.empty() ? "" : ", ") + "{\"version\": \"" +
             std::to_string(it->first) + "\", \"state\": \"" + s.state +
             "\", \"status\": {\"error_code\": \"" + s.error_code +
             "\", \"error_message\": " + JsonQuote(s.error_message) + "}}";
  }
  if (items.empty()) {
    return NotFoundError(version >= 0 ? "Could not find version " + std::to_string(version) +
                                            " of model " + name()
                                      : "Could not find any versions of model " + name());
  }
  return "{\"model_version_status\": [" + items + "]}";
}

}  // namespace shardtrain::serving
