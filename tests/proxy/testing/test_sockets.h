// Blocking socket helpers for tests: the clients and servers around the
// proxy under test. Every socket gets 10 s send/receive timeouts, so a broken
// proxy fails a test instead of hanging it.
#ifndef TETHER_TESTS_PROXY_TESTING_TEST_SOCKETS_H_
#define TETHER_TESTS_PROXY_TESTING_TEST_SOCKETS_H_

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "proxy/net/socket.h"

namespace tether::proxy::testing {

inline constexpr absl::Duration kIoTimeout = absl::Seconds(10);

// Loopback returns 127.0.0.1:port.
SocketAddress Loopback(uint16_t port = 0);

// BlockingListener: a blocking listening socket on 127.0.0.1, port 0.
class BlockingListener {
 public:
  explicit BlockingListener(int backlog = 128);
  const SocketAddress& address() const { return address_; }
  int fd() const { return fd_.get(); }
  // Accept waits (up to kIoTimeout) for a connection; invalid on timeout.
  UniqueFd Accept();

 private:
  UniqueFd fd_;
  SocketAddress address_;
};

// ConnectBlocking connects a blocking socket (with timeouts); invalid on error.
UniqueFd ConnectBlocking(const SocketAddress& addr);

// SetTimeouts sets SO_RCVTIMEO / SO_SNDTIMEO.
void SetTimeouts(int fd, absl::Duration timeout);

// WriteAll writes every byte; false on error (errno set).
bool WriteAll(int fd, const void* data, size_t len);
inline bool WriteAll(int fd, const std::string& s) { return WriteAll(fd, s.data(), s.size()); }

// ReadExactly reads `len` bytes; false on EOF or error (errno set; 0 on EOF).
bool ReadExactly(int fd, void* buf, size_t len);

// ReadToEof reads until EOF. *err_out is 0 after a clean EOF, else the errno
// that ended the read (ECONNRESET, EAGAIN for a timeout, ...).
std::string ReadToEof(int fd, int* err_out);

// RandomBytes: `n` pseudo-random bytes from `seed` (deterministic).
std::string RandomBytes(size_t n, uint64_t seed);

// ResetConnection closes `fd` so that the peer sees a reset.
void ResetConnection(UniqueFd fd);

// Fnv1a: a 64-bit FNV-1a hash, to compare large transfers.
uint64_t Fnv1a(const std::string& data);

// PatternStream: an endless deterministic byte stream; two instances with the
// same seed produce the same bytes, so a receiver can check a transfer of any
// size without keeping it.
class PatternStream {
 public:
  explicit PatternStream(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  void Fill(uint8_t* out, size_t n);

 private:
  uint64_t Next();
  uint64_t state_;
  uint64_t word_ = 0;
  int left_ = 0;  // bytes of word_ not handed out yet
};

// EchoServer: a blocking TCP server on 127.0.0.1 that writes back whatever
// it reads on each connection (one thread per connection) and, on EOF, shuts
// down its writing side and closes.
class EchoServer {
 public:
  EchoServer();
  ~EchoServer();
  const SocketAddress& address() const { return listener_.address(); }
  int accepted() const;

 private:
  void Serve(int fd);

  BlockingListener listener_;
  std::thread accept_thread_;
  mutable std::mutex mu_;  // guards the members below (std: visible to TSan)
  bool stopping_ = false;
  int accepted_ = 0;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
};

}  // namespace tether::proxy::testing

#endif  // TETHER_TESTS_PROXY_TESTING_TEST_SOCKETS_H_
