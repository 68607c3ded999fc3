#include "tests/testing/loopback_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include "tests/testing/net_helpers.h"

namespace tether::testing {

LoopbackServer::LoopbackServer(std::function<void(int fd)> serve) : serve_(std::move(serve)) {
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
      workers_.push_back(Worker{std::thread([this, fd, done] {
                                  serve_(fd);
                                  done->store(true);
                                }),
                                done});
    }
  });
}

void LoopbackServer::ReapFinished() {
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

LoopbackServer::~LoopbackServer() {
  stopping_ = true;
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  acceptor_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& w : workers_) w.thread.join();
}

}  // namespace tether::testing
