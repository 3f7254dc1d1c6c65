#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace shardtrain {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kUnknown: return "Unknown";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kDeadlineExceeded: return "DeadlineExceeded";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kPermissionDenied: return "PermissionDenied";
    case StatusCode::kResourceExhausted: return "ResourceExhausted";
    case StatusCode::kFailedPrecondition: return "FailedPrecondition";
    case StatusCode::kAborted: return "Aborted";
    case StatusCode::kOutOfRange: return "OutOfRange";
    case StatusCode::kUnimplemented: return "Unimplemented";
    case StatusCode::kInternal: return "Internal";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kDataLoss: return "DataLoss";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string message)
    : code_(code), message_(code == StatusCode::kOk ? std::string() : std::move(message)) {}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  out += ": ";
  out += message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string message(context);
  message += ": ";
  message += message_;
  return Status(code_, std::move(message));
}

std::ostream& operator<<(std::ostream& os, const Status& status) {
  return os << status.ToString();
}

#define SHARDTRAIN_DEFINE_ERROR(Name, Code) \
  Status Name(std::string message) { return Status(StatusCode::Code, std::move(message)); }
SHARDTRAIN_DEFINE_ERROR(CancelledError, kCancelled)
SHARDTRAIN_DEFINE_ERROR(InvalidArgumentError, kInvalidArgument)
SHARDTRAIN_DEFINE_ERROR(DeadlineExceededError, kDeadlineExceeded)
SHARDTRAIN_DEFINE_ERROR(NotFoundError, kNotFound)
SHARDTRAIN_DEFINE_ERROR(AlreadyExistsError, kAlreadyExists)
SHARDTRAIN_DEFINE_ERROR(PermissionDeniedError, kPermissionDenied)
SHARDTRAIN_DEFINE_ERROR(ResourceExhaustedError, kResourceExhausted)
SHARDTRAIN_DEFINE_ERROR(FailedPreconditionError, kFailedPrecondition)
SHARDTRAIN_DEFINE_ERROR(AbortedError, kAborted)
SHARDTRAIN_DEFINE_ERROR(OutOfRangeError, kOutOfRange)
SHARDTRAIN_DEFINE_ERROR(UnimplementedError, kUnimplemented)
SHARDTRAIN_DEFINE_ERROR(InternalError, kInternal)
SHARDTRAIN_DEFINE_ERROR(UnavailableError, kUnavailable)
SHARDTRAIN_DEFINE_ERROR(DataLossError, kDataLoss)
#undef SHARDTRAIN_DEFINE_ERROR

Status ErrnoToStatus(int errno_value, std::string_view call, std::string_view path) {
  std::string message(call);
  message += " '";
  message += path;
  message += "': ";
  message += std::strerror(errno_value);
  StatusCode code = StatusCode::kUnknown;
  switch (errno_value) {
    case ENOENT:
    case ENOTDIR: code = StatusCode::kNotFound; break;
    case EACCES:
    case EPERM:
    case EROFS: code = StatusCode::kPermissionDenied; break;
    case EEXIST: code = StatusCode::kAlreadyExists; break;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE: code = StatusCode::kResourceExhausted; break;
    case EINVAL:
    case EISDIR:
    case ENAMETOOLONG: code = StatusCode::kInvalidArgument; break;
    case EAGAIN:
    case EINTR:
    case ECONNREFUSED:
    case ECONNRESET:
    case ETIMEDOUT: code = StatusCode::kUnavailable; break;
    case EIO: code = StatusCode::kDataLoss; break;
    default: break;
  }
  return Status(code, std::move(message));
}

}  // namespace shardtrain
