#include "tests/testing/faulty_backend.h"

#include <cerrno>
#include <cstdlib>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/testing/net_helpers.h"

namespace tether::testing {

FaultyBackend::FaultyBackend(Mode mode, int port) : mode_(mode) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  listen_fd_ = ListenLoopback(port, 1024, &port_);
  if (listen_fd_ < 0) abort();
  acceptor_ = std::thread([this] {
    while (true) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0 || stopping_) {
        if (fd >= 0) close(fd);
        return;
      }
      ++accepted_;
      ++open_;
      std::lock_guard<std::mutex> lock(mu_);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  });
}

void FaultyBackend::Serve(int fd) {
  char buf[65536];
  switch (mode_) {
    case Mode::kEcho:
      while (true) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        if (send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      }
      shutdown(fd, SHUT_WR);
      break;
    case Mode::kResetAfterFirstRead: {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) send(fd, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
      linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      break;
    }
    case Mode::kStall: {
      // Never read: wait only for the peer to go away (POLLRDHUP, POLLHUP or
      // POLLERR) or for the server to stop.
      while (true) {
        pollfd fds[2] = {{fd, POLLRDHUP, 0}, {wake_fd_, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents != 0 || fds[0].revents != 0) break;
      }
      break;
    }
    case Mode::kFirehose: {
      const std::string chunk(sizeof(buf), 'x');
      while (true) {
        pollfd fds[2] = {{fd, POLLOUT | POLLRDHUP, 0}, {wake_fd_, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents != 0 || (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) break;
        ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN) break;
        if (n > 0) bytes_sent_ += static_cast<uint64_t>(n);
      }
      break;
    }
  }
  close(fd);
  --open_;
}

FaultyBackend::~FaultyBackend() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  acceptor_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& t : threads_) t.join();
  close(wake_fd_);
}

}  // namespace tether::testing
