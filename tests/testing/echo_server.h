// EchoServer: a blocking TCP echo server on 127.0.0.1:0 for tests. Each
// connection gets its own thread; it echoes until EOF, then half-closes.
#ifndef TETHER_TESTS_TESTING_ECHO_SERVER_H_
#define TETHER_TESTS_TESTING_ECHO_SERVER_H_

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace tether::testing {

class EchoServer {
 public:
  EchoServer();
  ~EchoServer();
  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void Serve(int fd);
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_ECHO_SERVER_H_
