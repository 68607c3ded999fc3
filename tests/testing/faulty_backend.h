// FaultyBackend: a TCP server on 127.0.0.1 that misbehaves on purpose, to
// see how a proxy in front of it copes. One thread per connection.
//
//   FaultyBackend backend(FaultyBackend::Mode::kResetAfterFirstRead);
//   ... forward a proxy to 127.0.0.1:backend.port() ...
//   EXPECT_TRUE(WaitFor([&] { return backend.open() == 0; }));
//
// Modes:
//   kEcho                 echoes until EOF, then half-closes (a healthy app)
//   kResetAfterFirstRead  echoes the first read, then resets (SO_LINGER 0)
//   kStall                accepts, then never reads nor writes until the
//                         peer goes away or the server is destroyed
//   kFirehose             writes bytes as fast as the peer takes them and
//                         never reads
// open() counts connections the backend has not seen end yet (for kStall
// and kFirehose: not yet closed by the peer).
#ifndef TETHER_TESTS_TESTING_FAULTY_BACKEND_H_
#define TETHER_TESTS_TESTING_FAULTY_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <thread>

namespace tether::testing {

class FaultyBackend {
 public:
  enum class Mode { kEcho, kResetAfterFirstRead, kStall, kFirehose };

  // port 0: any free port.
  explicit FaultyBackend(Mode mode, int port = 0);
  ~FaultyBackend();
  FaultyBackend(const FaultyBackend&) = delete;
  FaultyBackend& operator=(const FaultyBackend&) = delete;

  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int open() const { return open_.load(); }
  // kFirehose: bytes the peers have taken so far.
  uint64_t bytes_sent() const { return bytes_sent_.load(); }

 private:
  void Serve(int fd);

  const Mode mode_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_fd_ = -1;  // eventfd: wakes stalled connections at destruction
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::list<std::thread> threads_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_FAULTY_BACKEND_H_
