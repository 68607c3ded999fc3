// LoopbackServer: a blocking TCP server on 127.0.0.1:0 for tests. Each
// connection gets its own thread running `serve(fd)`, which owns the fd
// (and closes it). Threads of finished connections are joined as new ones
// arrive, so a test may open many thousands of connections over its life.
#ifndef TETHER_TESTS_TESTING_LOOPBACK_SERVER_H_
#define TETHER_TESTS_TESTING_LOOPBACK_SERVER_H_

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace tether::testing {

class LoopbackServer {
 public:
  explicit LoopbackServer(std::function<void(int fd)> serve);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  int port() const { return port_; }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void ReapFinished();
  const std::function<void(int fd)> serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<Worker> workers_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_LOOPBACK_SERVER_H_
