// DeferredStreamsBackend: per-stream queues run late (see the header).
#include "tests/mpi/deferred_streams_backend.h"

#include <cstring>
#include <utility>

namespace shardtrain::comm::testing {
namespace {

// Deeper nesting than a chain through every stream means streams wait on each other.
constexpr int kMaxDepth = 2 * kernels::kNumStreams + 2;

}  // namespace

Status DeferredStreamsBackend::CheckErrors() {
  Status status = std::move(status_);
  status_ = OkStatus();
  return status;
}

void DeferredStreamsBackend::Fail(const std::string& message) {
  if (status_.ok()) status_ = FailedPreconditionError(message);
}

void DeferredStreamsBackend::Enqueue(Stream stream, std::function<void()> task) {
  Queue& q = queue(stream);
  q.tasks.push_back(std::move(task));
  ++q.enqueued;
}

void DeferredStreamsBackend::RunUntil(int stream, int64_t point) {
  if (++depth_ > kMaxDepth) {
    Fail("DeferredStreamsBackend: streams wait on each other (a cycle)");
  } else {
    Queue& q = queues_[stream];
    while (q.executed < point && !q.tasks.empty()) {
      std::function<void()> task = std::move(q.tasks.front());
      q.tasks.pop_front();
      ++q.executed;
      task();
    }
  }
  --depth_;
}

int64_t DeferredStreamsBackend::pending(Stream stream) const {
  const Queue& q = queues_[static_cast<int>(stream)];
  return q.enqueued - q.executed;
}

void DeferredStreamsBackend::CopyToDevice(void* device_dst, const void* host_src, int64_t bytes,
                                          Stream stream) {
  Enqueue(stream, [=] { std::memcpy(device_dst, host_src, static_cast<size_t>(bytes)); });
}

void DeferredStreamsBackend::CopyToHost(void* host_dst, const void* device_src, int64_t bytes,
                                        Stream stream) {
  Enqueue(stream, [=] { std::memcpy(host_dst, device_src, static_cast<size_t>(bytes)); });
}

void DeferredStreamsBackend::CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes,
                                          Stream stream) {
  Enqueue(stream, [=] { std::memmove(device_dst, device_src, static_cast<size_t>(bytes)); });
}

StatusOr<Event> DeferredStreamsBackend::CreateEvent() { return Event(new EventPoint, this); }

void DeferredStreamsBackend::RecordEvent(Event& event, Stream stream) {
  if (event.empty()) return Fail("RecordEvent: empty event");
  auto* point = static_cast<EventPoint*>(event.state());
  point->stream = static_cast<int>(stream);
  point->point = queue(stream).enqueued;
}

const DeferredStreamsBackend::EventPoint* DeferredStreamsBackend::Recorded(const char* op,
                                                                           const Event& event) {
  const auto* point = static_cast<const EventPoint*>(event.state());
  if (point == nullptr || point->stream < 0) {
    Fail(std::string(op) + ": event never recorded");
    return nullptr;
  }
  return point;
}

void DeferredStreamsBackend::StreamWaitEvent(Stream stream, const Event& event) {
  const EventPoint* point = Recorded("StreamWaitEvent", event);
  if (point == nullptr) return;
  const EventPoint at = *point;  // the point now, whatever is recorded later
  Enqueue(stream, [this, at] { RunUntil(at.stream, at.point); });
}

Status DeferredStreamsBackend::WaitEvent(const Event& event) {
  const EventPoint* point = Recorded("WaitEvent", event);
  if (point != nullptr) RunUntil(point->stream, point->point);
  return CheckErrors();
}

Status DeferredStreamsBackend::Synchronize() {
  for (bool ran = true; ran;) {
    ran = false;
    for (int s = 0; s < kernels::kNumStreams; ++s) {
      if (queues_[s].tasks.empty()) continue;
      RunUntil(s, queues_[s].enqueued);
      ran = true;
    }
  }
  return CheckErrors();
}

}  // namespace shardtrain::comm::testing
