// EchoServer: a blocking TCP echo server on 127.0.0.1:0 for tests. Each
// connection gets its own thread; it echoes until EOF, then half-closes.
// Threads of finished connections are joined as new ones arrive, so a test
// may open many thousands of connections over its lifetime.
#ifndef TETHER_TESTS_TESTING_ECHO_SERVER_H_
#define TETHER_TESTS_TESTING_ECHO_SERVER_H_

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace tether::testing {

class EchoServer {
 public:
  EchoServer();
  ~EchoServer();
  int port() const { return port_; }
  // Connections accepted so far.
  int connections() const { return connections_.load(); }

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  static void Serve(int fd);
  void ReapFinished();
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<Worker> workers_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_ECHO_SERVER_H_
