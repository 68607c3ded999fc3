#include "common/http/server.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace tether::http {
namespace {

constexpr absl::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr size_t kReadChunk = 16 * 1024;
// After a final response, at most this much is read and dropped (and for at
// most kLingerTime) so that closing does not reset the connection before the
// client has read the response.
constexpr size_t kLingerBytes = 64 * 1024;
constexpr absl::Duration kLingerTime = absl::Seconds(1);

std::string ErrnoText(absl::string_view what) { return absl::StrCat(what, ": ", strerror(errno)); }

// SplitHostPort splits "host:port" or "[v6]:port".
absl::Status SplitHostPort(absl::string_view in, std::string* out_host, std::string* out_port) {
  absl::string_view host;
  absl::string_view port;
  if (!in.empty() && in.front() == '[') {
    const size_t close = in.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("want [ipv6]:port, got \"", in, "\""));
    }
    host = in.substr(1, close - 1);
    port = in.substr(close + 2);
  } else {
    const size_t colon = in.rfind(':');
    if (colon == absl::string_view::npos || in.substr(0, colon).find(':') != in.npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("want host:port or [ipv6]:port, got \"", in, "\""));
    }
    host = in.substr(0, colon);
    port = in.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty() || port.empty() || !absl::SimpleAtoi(port, &port_number) || port_number < 0 ||
      port_number > 65535 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return absl::InvalidArgumentError(absl::StrCat("bad host or port in \"", in, "\""));
  }
  *out_host = std::string{host};
  *out_port = std::string{port};
  return absl::OkStatus();
}

std::string PeerName(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return absl::StrCat(host, ":", ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return absl::StrCat("[", host, "]:", ntohs(in6->sin6_port));
  }
  if (addr.ss_family == AF_UNIX) return "a unix socket peer";
  return "(unknown address family)";
}

bool HeaderIsSafe(absl::string_view name, absl::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c <= ' ' || c == ':' || c == 0x7f) return false;
  }
  return value.find_first_of(absl::string_view("\r\n\0", 3)) == absl::string_view::npos;
}

// SerializeResponse renders the status line, headers and (unless `head`) body.
std::string SerializeResponse(const HttpResponse& response, bool keep_alive, bool head) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", response.status, " ", HttpReasonPhrase(response.status), "\r\n");
  if (!response.content_type.empty() && HeaderIsSafe("Content-Type", response.content_type)) {
    absl::StrAppend(&out, "Content-Type: ", response.content_type, "\r\n");
  }
  absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  absl::StrAppend(&out, "Connection: ", keep_alive ? "keep-alive" : "close", "\r\n");
  for (const auto& [name, value] : response.headers) {
    // The server owns framing; a handler cannot override it.
    if (!HeaderIsSafe(name, value) || absl::EqualsIgnoreCase(name, "Content-Length") ||
        absl::EqualsIgnoreCase(name, "Connection") ||
        absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      continue;
    }
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  out += "\r\n";
  if (!head) out += response.body;
  return out;
}

// SocketStream: the plain TCP connection.
class SocketStream final : public ByteStream {
 public:
  explicit SocketStream(int fd) : fd_(fd) {}
  ssize_t Read(char* buf, size_t n, int16_t* out_wait) override {
    const ssize_t r = recv(fd_, buf, n, MSG_DONTWAIT);
    *out_wait = r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? POLLIN : 0;
    return r;
  }
  ssize_t Write(const char* buf, size_t n, int16_t* out_wait) override {
    const ssize_t w = send(fd_, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    *out_wait = w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? POLLOUT : 0;
    return w;
  }

 private:
  const int fd_;
};

int PollMillis(absl::Duration left) {
  if (left <= absl::ZeroDuration()) return 0;
  // Round up, so that a wake-up never comes before the deadline.
  const int64_t ms = absl::ToInt64Milliseconds(left + absl::Milliseconds(1) - absl::Nanoseconds(1));
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace

bool IsLoopbackPeer(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (addr.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
  }
  return false;
}

AdminServer::AdminServer(AdminServerOptions options) : options_(std::move(options)) {}

AdminServer::~AdminServer() { Stop(); }

void AdminServer::Handle(absl::string_view method, absl::string_view path, Handler handler) {
  MutexLock lock(&mu_);
  routes_[std::string{path}][std::string{method}] = std::move(handler);
}

void AdminServer::SetHttp2Handoff(std::function<void(int fd)> handoff) {
  MutexLock lock(&mu_);
  http2_handoff_ = std::move(handoff);
}

absl::StatusOr<int> AdminServer::Start(const std::string& listen_host_port) {
  MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("AdminServer::Start called twice");
  if (std::optional<std::string> path = UnixSocketPath(listen_host_port)) {
    absl::StatusOr<UnixListener> listener = ListenUnix(*path, options_.unix_socket);
    if (!listener.ok()) return listener.status();
    unix_listener_ = *listener;
    return StartServing(listener->fd, 0);
  }
  std::string host;
  std::string port;
  if (absl::Status s = SplitHostPort(listen_host_port, &host, &port); !s.ok()) return s;

  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addrs = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &addrs); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve \"", listen_host_port, "\": ", gai_strerror(rc)));
  }
  absl::Cleanup free_addrs = [addrs] { freeaddrinfo(addrs); };

  const int fd = socket(addrs->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(ErrnoText("socket"));
  absl::Cleanup close_fd = [fd] { close(fd); };
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    return absl::InternalError(ErrnoText("setsockopt(SO_REUSEADDR)"));
  }
  if (bind(fd, addrs->ai_addr, addrs->ai_addrlen) != 0) {
    return absl::UnavailableError(ErrnoText(absl::StrCat("bind ", listen_host_port)));
  }
  if (listen(fd, 64) != 0) return absl::InternalError(ErrnoText("listen"));
  sockaddr_storage bound = {};
  socklen_t bound_len = sizeof(bound);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return absl::InternalError(ErrnoText("getsockname"));
  }
  const int bound_port =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  std::move(close_fd).Cancel();
  return StartServing(fd, bound_port);
}

absl::StatusOr<int> AdminServer::StartServing(int listen_fd, int bound_port) {
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    if (unix_listener_) RemoveUnixSocket(*unix_listener_);
    close(listen_fd);
    return absl::InternalError(ErrnoText("eventfd"));
  }
  listen_fd_ = listen_fd;
  wake_fd_ = wake;
  started_ = true;
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return bound_port;
}

void AdminServer::Stop() {
  {
    MutexLock lock(&mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
  }
  // The eventfd is never read: once written it stays readable, which wakes
  // every thread polling it, now and later.
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) != sizeof(one)) Log(ErrnoText("admin server: eventfd"));
  acceptor_.join();
  std::list<Connection> connections;
  {
    MutexLock lock(&mu_);
    connections.swap(connections_);  // nodes stay valid for their threads
  }
  for (Connection& c : connections) c.thread.join();
  if (unix_listener_) RemoveUnixSocket(*unix_listener_);
  close(listen_fd_);
  close(wake_fd_);
}

void AdminServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      Log(ErrnoText("admin server: poll"));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;

    sockaddr_storage peer = {};
    socklen_t peer_len = sizeof(peer);
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      Log(ErrnoText("admin server: accept"));
      // Out of descriptors, most likely: back off instead of spinning.
      pollfd wake = {wake_fd_, POLLIN, 0};
      poll(&wake, 1, 100);
      continue;
    }
    // A Unix socket's peers are local by construction, admitted by the file's mode.
    if (!options_.allow_remote && !unix_listener_ && !IsLoopbackPeer(peer)) {
      Log(absl::StrCat("admin server: refused connection from ", PeerName(peer),
                       ": not a loopback peer and allow_remote is off"));
      close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // A stream (TLS) reads and writes the socket itself: non-blocking, so
    // that each of its reads returns and waits in Wait() with the
    // connection's deadline, rather than blocking in SSL_read forever on a
    // client that sends nothing (the plain stream reads with MSG_DONTWAIT).
    if (options_.stream_factory && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
      Log(ErrnoText("admin server: O_NONBLOCK"));
      close(fd);
      continue;
    }

    MutexLock lock(&mu_);
    ReapLocked();
    if (static_cast<int>(connections_.size()) >= options_.max_connections &&
        options_.stream_factory) {
      // A plaintext answer means nothing to a TLS client: just close.
      Log(absl::StrCat("admin server: ", connections_.size(), " connections open; refusing ",
                       PeerName(peer)));
      close(fd);
      continue;
    }
    if (static_cast<int>(connections_.size()) >= options_.max_connections) {
      Log(absl::StrCat("admin server: ", connections_.size(), " connections open; refusing ",
                       PeerName(peer), " with 503"));
      HttpResponse busy = HttpResponse::Text("too many admin connections\n", 503);
      const std::string bytes = SerializeResponse(busy, /*keep_alive=*/false, /*head=*/false);
      // Best effort and never blocking: the acceptor must not wait on a client.
      (void)send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      shutdown(fd, SHUT_WR);
      char drain[4096];
      while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0) {
      }
      close(fd);
      continue;
    }
    Connection& c = connections_.emplace_back();
    c.thread = std::thread([this, fd, &c] {
      ServeConnection(fd);
      MutexLock done_lock(&mu_);
      c.done = true;
    });
  }
}

void AdminServer::ReapLocked() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (it->done) {
      it->thread.join();  // it has only to return
      it = connections_.erase(it);
    } else {
      ++it;
    }
  }
}

AdminServer::Io AdminServer::Wait(int fd, int16_t events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return Io::kTimeout;
    pollfd fds[2] = {{fd, events, 0}, {wake_fd_, POLLIN, 0}};
    const int n = poll(fds, 2, PollMillis(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Io::kError;
    }
    if (fds[1].revents != 0) return Io::kStopped;
    // POLLHUP and POLLERR count as ready: the next recv or send reports them.
    if (fds[0].revents != 0) return Io::kReady;
  }
}

bool AdminServer::WriteAll(ByteStream& stream, int fd, absl::string_view data,
                           absl::Time deadline) {
  while (!data.empty()) {
    int16_t wait = 0;
    const ssize_t n = stream.Write(data.data(), data.size(), &wait);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && wait != 0) {
      if (Wait(fd, wait, deadline) != Io::kReady) return false;
      continue;
    }
    return false;
  }
  return true;
}

void AdminServer::LingeringClose(ByteStream& stream, int fd) {
  stream.Shutdown();
  // Close only after the client has seen our FIN (or a short while), so that
  // unread request bytes do not turn the close into a reset that destroys the
  // response in flight.
  shutdown(fd, SHUT_WR);
  const absl::Time deadline = absl::Now() + std::min(kLingerTime, options_.read_timeout);
  size_t drained = 0;
  char buf[4096];
  while (drained < kLingerBytes && Wait(fd, POLLIN, deadline) == Io::kReady) {
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    if (n > 0) drained += static_cast<size_t>(n);
  }
  close(fd);
}

bool AdminServer::SniffHttp2(int fd, absl::Time deadline, bool* out_ok) {
  *out_ok = false;
  bool lowat_raised = false;
  auto reset_lowat = [&] {
    if (!lowat_raised) return;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
  };
  for (;;) {
    if (Wait(fd, POLLIN, deadline) != Io::kReady) return false;
    char buf[kHttp2Preface.size()];
    const ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return false;
    const absl::string_view got(buf, static_cast<size_t>(n));
    const bool is_prefix = absl::StartsWith(kHttp2Preface, got);
    if (!is_prefix || got.size() == kHttp2Preface.size() || lowat_raised) {
      // Not HTTP/2, the whole preface, or (with the low-water mark raised)
      // the connection ended part-way through it: HTTP/1.1 will sort it out.
      reset_lowat();
      *out_ok = true;
      return is_prefix && got.size() == kHttp2Preface.size();
    }
    // A part of the preface: have poll() wait until all of it is there. The
    // bytes stay unread either way, so this cannot spin.
    const int want = static_cast<int>(kHttp2Preface.size());
    if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) != 0) return false;
    lowat_raised = true;
  }
}

void AdminServer::ServeConnection(int fd) {
  absl::Time deadline = absl::Now() + options_.read_timeout;
  std::function<void(int)> handoff;
  {
    MutexLock lock(&mu_);
    handoff = http2_handoff_;
  }
  std::unique_ptr<ByteStream> stream;
  if (options_.stream_factory) {
    stream = options_.stream_factory(fd);
    if (stream == nullptr) {
      close(fd);
      return;
    }
  } else {
    stream = std::make_unique<SocketStream>(fd);
  }
  if (handoff && !options_.stream_factory) {
    bool ok = false;
    if (SniffHttp2(fd, deadline, &ok)) {
      handoff(fd);  // it owns fd now
      return;
    }
    if (!ok) {
      close(fd);
      return;
    }
  }

  std::string buffer;
  bool sent_continue = false;
  for (;;) {
    HttpParseResult parsed = ParseHttpRequest(buffer, options_.limits);
    if (parsed.state == HttpParseResult::State::kNeedMore) {
      if (parsed.expect_continue && !sent_continue) {
        if (!WriteAll(*stream, fd, "HTTP/1.1 100 Continue\r\n\r\n", deadline)) break;
        sent_continue = true;
      }
      const size_t old_size = buffer.size();
      buffer.resize(old_size + kReadChunk);
      int16_t wait = 0;
      const ssize_t n = stream->Read(buffer.data() + old_size, kReadChunk, &wait);
      buffer.resize(old_size + static_cast<size_t>(std::max<ssize_t>(n, 0)));
      if (n > 0) continue;
      if (n == 0 || wait == 0) break;                     // the client closed, or an error
      if (Wait(fd, wait, deadline) != Io::kReady) break;  // timeout, Stop() or error
      continue;
    }
    if (parsed.state == HttpParseResult::State::kError) {
      const HttpResponse error =
          HttpResponse::Text(absl::StrCat(parsed.error_reason, "\n"), parsed.error_status);
      if (WriteAll(*stream, fd, SerializeResponse(error, /*keep_alive=*/false, /*head=*/false),
                   deadline)) {
        LingeringClose(*stream, fd);
        return;
      }
      break;
    }

    buffer.erase(0, parsed.consumed);
    sent_continue = false;
    const HttpRequest& request = parsed.request;
    const bool keep_alive = request.KeepAlive();
    const HttpResponse response = Dispatch(request);
    const absl::Time write_deadline = absl::Now() + options_.read_timeout;
    if (!WriteAll(*stream, fd, SerializeResponse(response, keep_alive, request.method == "HEAD"),
                  write_deadline)) {
      break;
    }
    if (!keep_alive) {
      LingeringClose(*stream, fd);
      return;
    }
    deadline = absl::Now() + options_.read_timeout;
  }
  close(fd);
}

HttpResponse AdminServer::Dispatch(const HttpRequest& request) {
  Handler handler;
  {
    MutexLock lock(&mu_);
    const auto path = routes_.find(request.path);
    if (path == routes_.end()) return HttpResponse::Text("not found\n", 404);
    const auto& methods = path->second;
    auto method = methods.find(request.method);
    if (method == methods.end() && request.method == "HEAD") method = methods.find("GET");
    if (method == methods.end()) {
      std::vector<std::string> allowed;
      allowed.reserve(methods.size() + 1);
      for (const auto& entry : methods) allowed.push_back(entry.first);
      if (methods.count("GET") != 0 && methods.count("HEAD") == 0) allowed.push_back("HEAD");
      std::sort(allowed.begin(), allowed.end());
      HttpResponse response = HttpResponse::Text("method not allowed\n", 405);
      response.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
      return response;
    }
    handler = method->second;
  }
  return handler(request);
}

void AdminServer::Log(absl::string_view line) {
  if (options_.log) {
    options_.log(line);
  } else {
    absl::FPrintF(stderr, "%s\n", line);
  }
}

}  // namespace tether::http
