#include "coordinator/rpc/socket_io.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace shardtrain::coordinator {
namespace {

// Milliseconds left until `deadline` for poll(): >= 0.
int MillisLeft(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 1 << 30));
}

// Waits until `fd` is ready for `events`. OK, DeadlineExceeded or Unavailable.
Status WaitFor(int fd, short events, Deadline deadline, const std::string& peer,
               const char* what) {
  while (true) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, MillisLeft(deadline));
    if (n > 0) return OkStatus();
    if (n == 0) {
      return DeadlineExceededError("timed out " + std::string(what) + " the coordinator at " +
                                   peer);
    }
    if (errno != EINTR) {
      return UnavailableError("poll on the connection to " + peer + ": " + std::strerror(errno));
    }
  }
}

// One non-blocking connect to `address`, completed within the deadline.
StatusOr<int> ConnectOne(const addrinfo* address, Deadline deadline, const std::string& peer) {
  const int fd = socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC,
                        address->ai_protocol);
  if (fd < 0) return ErrnoToStatus(errno, "socket", peer);
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int error = 0;
  if (connect(fd, address->ai_addr, address->ai_addrlen) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      Status ready = WaitFor(fd, POLLOUT, deadline, peer, "connecting to");
      if (!ready.ok()) {
        close(fd);
        return ready;
      }
      socklen_t length = sizeof(error);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
    }
  }
  if (error != 0) {
    close(fd);
    return UnavailableError(std::string(std::strerror(error)));
  }
  fcntl(fd, F_SETFL, flags);  // blocking again; reads and writes poll first
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

Deadline DeadlineAfter(double seconds) {
  seconds = std::clamp(seconds, 0.0, 1e7);
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(seconds));
}

StatusOr<int> ConnectTcp(const std::string& host, int port, Deadline deadline) {
  const std::string peer = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const int resolved = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses);
  if (resolved != 0) {
    return UnavailableError("cannot resolve " + peer + ": " + gai_strerror(resolved));
  }
  Status last = UnavailableError("no address");
  for (const addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    StatusOr<int> fd = ConnectOne(a, deadline, peer);
    if (fd.ok()) {
      freeaddrinfo(addresses);
      return fd;
    }
    last = fd.status();
  }
  freeaddrinfo(addresses);
  return Status(last.code(), "cannot connect to " + peer + ": " + last.message());
}

Status WriteAll(int fd, const void* data, size_t size, Deadline deadline,
                const std::string& peer) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, peer, "writing to"));
    const ssize_t n = send(fd, p, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return UnavailableError("writing to the coordinator at " + peer + ": " +
                              std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return OkStatus();
}

Status ReadExactly(int fd, void* data, size_t size, Deadline deadline, const std::string& peer) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline, peer, "reading from"));
    const ssize_t n = recv(fd, p, size, MSG_DONTWAIT);
    if (n == 0) {
      return UnavailableError("the coordinator at " + peer + " closed the connection");
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return UnavailableError("reading from the coordinator at " + peer + ": " +
                              std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return OkStatus();
}

void CloseSocket(int fd) {
  if (fd >= 0) close(fd);
}

}  // namespace shardtrain::coordinator
