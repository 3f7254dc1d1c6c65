// Minimal leveled logging to stderr and CHECK for programmer errors.
//
// LOG(INFO) << "..."; prints "I 12:34:56.789 file.cc:42] ...". The minimum level
// comes from SHARDTRAIN_LOG_LEVEL (0=INFO, 1=WARNING, 2=ERROR; default 1 so the
// CLI stays quiet). CHECK(cond) aborts: use it only for violated invariants,
// never for bad input (that is a Status). Thread-safe: each message is written
// with one call.
#pragma once

#include <sstream>
#include <string_view>

namespace shardtrain {

enum class LogLevel : int { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

LogLevel MinLogLevel();
void SetMinLogLevel(LogLevel level);

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();  // Writes the message; aborts for kFatal.
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

// Swallows the stream when the level is disabled.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace shardtrain

#define SHARDTRAIN_LOG_INFO ::shardtrain::LogLevel::kInfo
#define SHARDTRAIN_LOG_WARNING ::shardtrain::LogLevel::kWarning
#define SHARDTRAIN_LOG_ERROR ::shardtrain::LogLevel::kError
#define SHARDTRAIN_LOG_FATAL ::shardtrain::LogLevel::kFatal

#define LOG(severity)                                                      \
  (SHARDTRAIN_LOG_##severity < ::shardtrain::MinLogLevel())                \
      ? (void)0                                                            \
      : ::shardtrain::LogVoidify() &                                       \
            ::shardtrain::LogMessage(SHARDTRAIN_LOG_##severity, __FILE__, __LINE__).stream()

#define CHECK(condition)                                                             \
  (condition) ? (void)0                                                              \
              : ::shardtrain::LogVoidify() &                                         \
                    ::shardtrain::LogMessage(::shardtrain::LogLevel::kFatal, __FILE__, \
                                             __LINE__)                               \
                            .stream()                                                \
                        << "CHECK failed: " #condition " "
