#include "common/http/client.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/unix_socket.h"

namespace tether::http {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// WaitFor polls `fd` for `events` until `deadline`.
absl::Status WaitFor(int fd, int16_t events, absl::Time deadline, absl::string_view what,
                     absl::string_view target) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) {
      return absl::DeadlineExceededError(absl::StrCat("timed out ", what, " ", target));
    }
    pollfd p = {fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1000)));
    if (n > 0) return absl::OkStatus();
    if (n < 0 && errno != EINTR) {
      return absl::UnavailableError(absl::StrCat(what, " ", target, ": ", strerror(errno)));
    }
  }
}

// ConnectBy opens a TCP connection to `host_port` by `deadline`: the
// descriptor (non-blocking), or the error.
absl::StatusOr<int> ConnectBy(absl::string_view host_port, absl::Time deadline) {
  if (std::optional<std::string> path = UnixSocketPath(host_port)) {
    absl::StatusOr<int> fd = ConnectUnix(*path);
    if (!fd.ok()) return fd.status();
    Fd owned(*fd);
    if (absl::Status st = WaitFor(owned.get(), POLLOUT, deadline, "connecting to", host_port);
        !st.ok()) {
      return st;
    }
    return owned.release();
  }
  const size_t colon = host_port.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", host_port, "\" is not HOST:PORT (e.g. 127.0.0.1:15000)"));
  }
  std::string host(host_port.substr(0, colon));
  const std::string port(host_port.substr(colon + 1));
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number <= 0 || port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", host_port, "\": bad port"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", host_port, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addrs(res, &freeaddrinfo);
  Fd fd(socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return absl::UnavailableError(absl::StrCat("socket: ", strerror(errno)));
  if (connect(fd.get(), res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", host_port, ": ", strerror(errno)));
  }
  if (absl::Status st = WaitFor(fd.get(), POLLOUT, deadline, "connecting to", host_port);
      !st.ok()) {
    return st;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", host_port, ": ", strerror(err)));
  }
  return fd.release();
}

}  // namespace

absl::StatusOr<int> ConnectTcp(absl::string_view host_port, absl::Duration timeout) {
  return ConnectBy(host_port, absl::Now() + timeout);
}

absl::StatusOr<HttpResult> Get(absl::string_view host_port, absl::string_view path,
                               const GetOptions& options) {
  for (const auto& [name, value] : options.headers) {
    for (absl::string_view s : {absl::string_view(name), absl::string_view(value)}) {
      if (s.find_first_of("\r\n") != absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("HTTP header ", name, " has a CR or LF"));
      }
    }
  }
  const absl::Time deadline = absl::Now() + options.timeout;
  absl::StatusOr<int> connected = ConnectBy(host_port, deadline);
  if (!connected.ok()) return connected.status();
  Fd fd(*connected);
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\n");
  bool has_host = false, has_agent = false;
  for (const auto& [name, value] : options.headers) {
    has_host |= absl::EqualsIgnoreCase(name, "host");
    has_agent |= absl::EqualsIgnoreCase(name, "user-agent");
  }
  if (!has_host) {
    absl::StrAppend(&request,
                    "Host: ", UnixSocketPath(host_port).has_value() ? "localhost" : host_port,
                    "\r\n");
  }
  for (const auto& [name, value] : options.headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  if (!has_agent) absl::StrAppend(&request, "User-Agent: ", options.user_agent, "\r\n");
  absl::StrAppend(&request, "Connection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (absl::Status st = WaitFor(fd.get(), POLLOUT, deadline, "sending to", host_port);
          !st.ok()) {
        return st;
      }
      continue;
    }
    return absl::UnavailableError(absl::StrCat("sending to ", host_port, ": ", strerror(errno)));
  }
  auto source = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    while (true) {
      ssize_t got = recv(fd.get(), buf, n, 0);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        return absl::UnavailableError(
            absl::StrCat("reading from ", host_port, ": ", strerror(errno)));
      }
      if (absl::Status st = WaitFor(fd.get(), POLLIN, deadline, "waiting for", host_port);
          !st.ok()) {
        return st;
      }
    }
  };
  return ReadHttpResponse(source, host_port, options.max_body);
}

}  // namespace tether::http
