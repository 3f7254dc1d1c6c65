// Blocking TCP helpers with deadlines (POSIX sockets + poll), used by the
// coordinator client and by tests that speak raw bytes to the coordinator.
// Every error is a Status naming the peer ("host:port"). Writes never raise
// SIGPIPE. Thread-compatible: one thread per file descriptor at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "common/status.h"

namespace shardtrain::coordinator {

using Deadline = std::chrono::steady_clock::time_point;

// The deadline `seconds` from now.
Deadline DeadlineAfter(double seconds);

// One connection attempt to host:port (every resolved address) before
// `deadline`; returns the connected, blocking socket. Unavailable otherwise.
StatusOr<int> ConnectTcp(const std::string& host, int port, Deadline deadline);

// Writes all `size` bytes. Unavailable on a socket error (peer gone),
// DeadlineExceeded when the deadline passes first.
Status WriteAll(int fd, const void* data, size_t size, Deadline deadline, const std::string& peer);

// Reads exactly `size` bytes. Unavailable on an error or when the peer closes
// the connection first, DeadlineExceeded when the deadline passes first.
Status ReadExactly(int fd, void* data, size_t size, Deadline deadline, const std::string& peer);

// Closes `fd` if it is >= 0.
void CloseSocket(int fd);

}  // namespace shardtrain::coordinator
