#include "tests/testing/echo_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/testing/net_helpers.h"

namespace tether::testing {

EchoServer::EchoServer() {
  listen_fd_ = ListenLoopback(0, 128, &port_);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      if (stopping_) {
        close(fd);
        break;
      }
      ++connections_;
      ReapFinished();
      auto done = std::make_shared<std::atomic<bool>>(false);
      std::lock_guard<std::mutex> lock(mu_);
      workers_.push_back(Worker{std::thread([fd, done] {
                                  Serve(fd);
                                  done->store(true);
                                }),
                                done});
    }
  });
}

void EchoServer::ReapFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
}

void EchoServer::Serve(int fd) {
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
      if (w <= 0) break;
      off += w;
    }
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

EchoServer::~EchoServer() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  acceptor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& w : workers_) w.thread.join();
}

}  // namespace tether::testing
