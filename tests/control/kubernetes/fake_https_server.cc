#include "tests/control/kubernetes/fake_https_server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tether::testing {
namespace {

constexpr size_t kMaxRequestBytes = 2 << 20;

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Whatever";
  }
}

std::string SslErrorText() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

}  // namespace

std::string RecordedRequest::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

int RecordedRequest::HeaderCount(absl::string_view name) const {
  int count = 0;
  for (const auto& [n, v] : headers) count += n == name;
  return count;
}

FakeHttpsServer::FakeHttpsServer(const TestCert& cert, Responder responder, uint16_t max_version)
    : responder_(std::move(responder)) {
  Init(cert, max_version);
}

FakeHttpsServer::FakeHttpsServer(const TestCert& cert, StreamResponder responder)
    : stream_responder_(std::move(responder)) {
  Init(cert, 0);
}

void FakeHttpsServer::Init(const TestCert& cert, uint16_t max_version) {
  ctx_.reset(SSL_CTX_new(TLS_method()));
  EXPECT_TRUE(SSL_CTX_use_certificate(ctx_.get(), cert.cert.get()));
  EXPECT_TRUE(SSL_CTX_use_PrivateKey(ctx_.get(), cert.key.get()));
  EXPECT_TRUE(SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_VERSION));
  if (max_version != 0) {
    EXPECT_TRUE(SSL_CTX_set_max_proto_version(ctx_.get(), max_version));
  }

  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(listen_fd_, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(listen(listen_fd_, 16), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  port_ = ntohs(addr.sin_port);
  EXPECT_EQ(pipe2(wake_pipe_, O_CLOEXEC), 0);
  thread_ = std::thread([this] { Serve(); });
}

FakeHttpsServer::~FakeHttpsServer() {
  stopping_.store(true);
  char byte = 0;
  EXPECT_EQ(write(wake_pipe_[1], &byte, 1), 1);
  thread_.join();
  for (std::thread& t : handlers_) t.join();
  close(listen_fd_);
  close(wake_pipe_[0]);
  close(wake_pipe_[1]);
}

std::vector<RecordedRequest> FakeHttpsServer::requests() const {
  MutexLock lock(&mu_);
  return requests_;
}

std::vector<std::string> FakeHttpsServer::errors() const {
  MutexLock lock(&mu_);
  return errors_;
}

void FakeHttpsServer::WaitForErrors(size_t n) const {
  MutexLock lock(&mu_);
  while (errors_.size() < n) errors_changed_.Wait(&mu_);
}

void FakeHttpsServer::AddError(std::string error) {
  MutexLock lock(&mu_);
  errors_.push_back(std::move(error));
  errors_changed_.SignalAll();
}

void FakeHttpsServer::Serve() {
  // A client that gave up leaves the server writing to a closed socket:
  // EPIPE for this thread instead of a process-killing SIGPIPE. The client
  // under test must avoid SIGPIPE by itself.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      AddError(absl::StrCat("poll: ", std::strerror(errno)));
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    if (resetting_.load()) {
      // Gone: the connection is reset before TLS, as a dead API server
      // behind a load balancer does.
      linger reset{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      close(fd);
      continue;
    }
    // A guard against a test hanging forever, not a part of any test's logic.
    timeval guard{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &guard, sizeof(guard));
    if (stream_responder_) {
      handlers_.emplace_back([this, fd] {
        Handle(fd);
        close(fd);
      });
      continue;
    }
    Handle(fd);
    close(fd);
  }
}

namespace {

class SslStream final : public ResponseStream {
 public:
  SslStream(SSL* ssl, const std::atomic<bool>* stopping) : ssl_(ssl), stopping_(stopping) {}
  bool Write(absl::string_view bytes) override {
    size_t off = 0;
    while (off < bytes.size()) {
      int n = SSL_write(ssl_, bytes.data() + off,
                        static_cast<int>(std::min<size_t>(bytes.size() - off, 1 << 16)));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      off += n;
    }
    return true;
  }
  bool stopping() const override { return stopping_->load(); }

 private:
  SSL* ssl_;
  const std::atomic<bool>* stopping_;
};

}  // namespace

void FakeHttpsServer::Handle(int fd) {
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx_.get()));
  SSL_set_fd(ssl.get(), fd);
  if (SSL_accept(ssl.get()) != 1) {
    AddError(absl::StrCat("handshake: ", SslErrorText()));
    return;
  }
  RecordedRequest req;
  const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
  if (sni != nullptr) req.sni = sni;

  std::string data;
  size_t head_end = std::string::npos;
  size_t content_length = 0;
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::vector<std::string> lines =
            absl::StrSplit(absl::string_view(data).substr(0, head_end), "\r\n");
        std::vector<std::string> start = absl::StrSplit(lines[0], ' ');
        if (start.size() != 3) {
          AddError(absl::StrCat("bad request line: ", lines[0]));
          return;
        }
        req.method = start[0];
        req.target = start[1];
        req.version = start[2];
        for (size_t i = 1; i < lines.size(); ++i) {
          size_t colon = lines[i].find(':');
          if (colon == std::string::npos) {
            AddError(absl::StrCat("bad header line: ", lines[i]));
            return;
          }
          req.headers.emplace_back(
              absl::AsciiStrToLower(lines[i].substr(0, colon)),
              std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
        }
        std::string cl = req.Header("content-length");
        if (!cl.empty() && !absl::SimpleAtoi(cl, &content_length)) {
          AddError(absl::StrCat("bad Content-Length: ", cl));
          return;
        }
      }
    }
    if (head_end != std::string::npos && data.size() >= head_end + 4 + content_length) break;
    if (data.size() > kMaxRequestBytes) {
      AddError("request too large");
      return;
    }
    char buf[16384];
    int n = SSL_read(ssl.get(), buf, sizeof(buf));
    if (n <= 0) {
      AddError(
          absl::StrCat("read: connection ended after ", data.size(), " bytes ", SslErrorText()));
      return;
    }
    data.append(buf, n);
  }
  req.body = data.substr(head_end + 4, content_length);
  {
    MutexLock lock(&mu_);
    requests_.push_back(req);
  }
  if (stream_responder_) {
    SslStream stream(ssl.get(), &stopping_);
    stream_responder_(req, stream);
    SSL_shutdown(ssl.get());
    return;
  }
  std::string response = responder_(req);
  size_t off = 0;
  while (off < response.size()) {
    int n = SSL_write(ssl.get(), response.data() + off,
                      static_cast<int>(std::min<size_t>(response.size() - off, 1 << 16)));
    if (n <= 0) {
      AddError(absl::StrCat("write: ", SslErrorText()));
      return;
    }
    off += n;
  }
  SSL_shutdown(ssl.get());
}

ReservedPort::ReservedPort(bool listening) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd_, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  if (listening) {
    EXPECT_EQ(listen(fd_, 4), 0);
  }
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  port_ = ntohs(addr.sin_port);
}

ReservedPort::~ReservedPort() { close(fd_); }

std::string HttpResponse(int status, absl::string_view body, absl::string_view content_type) {
  return absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status),
                      "\r\nAudit-Id: 6a0c9e4e-2f5b-4c1e-8d7a-1b2c3d4e5f60\r\nCache-Control: "
                      "no-cache, private\r\nContent-Type: ",
                      content_type,
                      "\r\nDate: Wed, 01 May 2024 10:00:00 GMT\r\nContent-Length: ", body.size(),
                      "\r\n\r\n", body);
}

std::string ChunkedHttpResponse(int status, const std::vector<std::string>& chunks) {
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status),
                                 "\r\nContent-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n");
  for (const std::string& chunk : chunks) {
    absl::StrAppend(&out, absl::Hex(chunk.size()), "\r\n", chunk, "\r\n");
  }
  absl::StrAppend(&out, "0\r\n\r\n");
  return out;
}

}  // namespace tether::testing
