#include "tests/proxy/testing/test_sockets.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tether::proxy::testing {

SocketAddress Loopback(uint16_t port) {
  SocketAddress addr;
  auto* sin = reinterpret_cast<sockaddr_in*>(&addr.storage);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.len = sizeof(sockaddr_in);
  return addr;
}

void SetTimeouts(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

BlockingListener::BlockingListener(int backlog) {
  fd_ = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SocketAddress any = Loopback(0);
  if (!fd_.valid() || bind(fd_.get(), any.addr(), any.len) != 0 ||
      listen(fd_.get(), backlog) != 0) {
    std::perror("BlockingListener");
    std::abort();
  }
  SetTimeouts(fd_.get(), kIoTimeout);  // accept() honours SO_RCVTIMEO
  address_ = *LocalAddress(fd_.get());
}

UniqueFd BlockingListener::Accept() {
  UniqueFd fd(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (fd.valid()) SetTimeouts(fd.get(), kIoTimeout);
  return fd;
}

UniqueFd ConnectBlocking(const SocketAddress& addr) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return fd;
  SetTimeouts(fd.get(), kIoTimeout);
  if (connect(fd.get(), addr.addr(), addr.len) != 0) return UniqueFd();
  return fd;
}

bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadExactly(int fd, void* buf, size_t len) {
  char* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = recv(fd, p, len, 0);
    if (n == 0) {
      errno = 0;
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::string ReadToEof(int fd, int* err_out) {
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n == 0) {
      *err_out = 0;
      return out;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      *err_out = errno;
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  size_t i = 0;
  while (i < n) {
    uint64_t v = rng();
    for (int b = 0; b < 8 && i < n; ++b, ++i) out[i] = static_cast<char>(v >> (8 * b));
  }
  return out;
}

void ResetConnection(UniqueFd fd) { AbortiveClose(std::move(fd)); }

uint64_t Fnv1a(const std::string& data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t PatternStream::Next() {
  // xorshift64*
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1Dull;
}

void PatternStream::Fill(uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (left_ == 0) {
      word_ = Next();
      left_ = 8;
    }
    out[i] = static_cast<uint8_t>(word_);
    word_ >>= 8;
    --left_;
  }
}

EchoServer::EchoServer() {
  accept_thread_ = std::thread([this] {
    for (;;) {
      UniqueFd fd = listener_.Accept();
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (!fd.valid()) continue;  // timeout: keep waiting
      ++accepted_;
      int raw = fd.release();
      open_fds_.push_back(raw);
      threads_.emplace_back([this, raw] { Serve(raw); });
    }
  });
}

EchoServer::~EchoServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);  // wake blocked reads
  }
  shutdown(listener_.fd(), SHUT_RDWR);  // wakes accept()
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

int EchoServer::accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

void EchoServer::Serve(int fd) {
  SetTimeouts(fd, absl::ZeroDuration());  // wait as long as the client needs
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) shutdown(fd, SHUT_WR);
      break;
    }
    if (!WriteAll(fd, buf, static_cast<size_t>(n))) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& open : open_fds_) {
    if (open == fd) open = -1;
  }
  close(fd);
}

}  // namespace tether::proxy::testing
