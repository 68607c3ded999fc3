#include "control/kubernetes/https_client.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/ip_text.h"

namespace tether::control::kubernetes {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr size_t kIoChunk = 16 << 10;
constexpr int64_t kCancelPollMs = 50;
constexpr char kUserAgent[] = "tether-control";

bool IsIpLiteral(const std::string& host) {
  in6_addr addr;
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

std::string Unbracket(absl::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string out(host);
  return out;
}

std::string ErrnoText(int err) { return std::strerror(err); }

// TlsErrorText turns the first error on BoringSSL's queue into a short
// lowercase phrase ("wrong version number"), or "" if the queue is empty.
std::string TlsErrorText() {
  uint32_t err = ERR_peek_error();
  if (err == 0) return "";
  const char* reason = ERR_reason_error_string(err);
  if (reason == nullptr) return absl::StrCat("error ", err);
  std::string text = absl::AsciiStrToLower(reason);
  std::replace(text.begin(), text.end(), '_', ' ');
  return text;
}

absl::Status ValidateRequest(const HttpsTarget& target, absl::string_view method,
                             absl::string_view path, const HttpHeaders& headers,
                             absl::Duration timeout) {
  if (method.empty() ||
      !std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP method \"", absl::CHexEscape(method), "\""));
  }
  if (target.host.empty()) return absl::InvalidArgumentError("HTTPS target has no host");
  if (target.port == 0) return absl::InvalidArgumentError("HTTPS target has no port");
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("HTTPS request timeout must be positive");
  }
  if (path.empty() || path[0] != '/' || std::any_of(path.begin(), path.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f;
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP request path \"", absl::CHexEscape(path), "\""));
  }
  for (const auto& [name, value] : headers) {
    if (name.empty() || std::any_of(name.begin(), name.end(), [](char c) {
          return !absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-';
        })) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad HTTP header name \"", absl::CHexEscape(name), "\""));
    }
    for (absl::string_view reserved :
         {"host", "content-length", "connection", "transfer-encoding"}) {
      if (absl::EqualsIgnoreCase(name, reserved)) {
        return absl::InvalidArgumentError(
            absl::StrCat("HTTP header ", name, " is set by the client itself"));
      }
    }
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTP header ", name, " has a CR, LF or NUL in its value"));
    }
  }
  return absl::OkStatus();
}

// Connection is one TCP connection carrying TLS. BoringSSL reads and writes
// memory BIOs; this class moves their bytes over a non-blocking socket with
// poll(), so one deadline covers every step and no write raises SIGPIPE.
class Connection {
 public:
  Connection(std::string peer, absl::Duration timeout, const std::atomic<bool>* cancelled = nullptr)
      : peer_(std::move(peer)),
        timeout_(timeout),
        cancelled_(cancelled),
        deadline_(SteadyClock::now() + absl::ToChronoNanoseconds(timeout)) {}
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Restart makes `timeout` from now the deadline of what follows.
  void Restart(absl::Duration timeout) {
    timeout_ = timeout;
    deadline_ = SteadyClock::now() + absl::ToChronoNanoseconds(timeout);
  }

  absl::Status Connect(const std::string& host, uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (IsIpLiteral(host) ? AI_NUMERICHOST : 0);
    addrinfo* found = nullptr;
    std::string port_text = absl::StrCat(port);
    int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found);
    if (rc != 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot resolve ", host, ": ", rc == EAI_SYSTEM ? ErrnoText(errno) : gai_strerror(rc)));
    }
    absl::Cleanup free_found = [found] { freeaddrinfo(found); };
    std::string last_error = "no address";
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
      int fd =
          socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        last_error = absl::StrCat("socket: ", ErrnoText(errno));
        continue;
      }
      // The request follows the handshake's last flight at once: without
      // TCP_NODELAY, Nagle would hold it for the server's delayed ACK (~40ms).
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        fd_ = fd;
        return absl::OkStatus();
      }
      if (errno != EINPROGRESS) {
        last_error = ErrnoText(errno);
        close(fd);
        continue;
      }
      fd_ = fd;
      absl::Status ready = Wait(POLLOUT, "connecting to");
      if (!ready.ok()) {
        close(fd_);
        fd_ = -1;
        return ready;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0) return absl::OkStatus();
      last_error = ErrnoText(err);
      close(fd_);
      fd_ = -1;
    }
    return absl::UnavailableError(absl::StrCat("cannot connect to ", peer_, ": ", last_error));
  }

  // StartTls attaches `ssl`, which this connection then drives.
  void StartTls(SSL* ssl) {
    ssl_ = ssl;
    rbio_ = BIO_new(BIO_s_mem());  // an empty read means "retry" until EOF is set
    wbio_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, rbio_, wbio_);  // ssl_ owns both
  }

  absl::Status Handshake() {
    for (;;) {
      ERR_clear_error();
      int rc = SSL_do_handshake(ssl_);
      int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
      // Send what BoringSSL wrote: handshake messages, or the alert it failed with.
      absl::Status flushed = Flush("in the TLS handshake with");
      if (err == SSL_ERROR_NONE) return flushed;
      if (err == SSL_ERROR_WANT_READ) {
        if (!flushed.ok()) return flushed;
        absl::Status filled = FillFromSocket("in the TLS handshake with");
        if (!filled.ok()) return filled;
        continue;
      }
      return absl::UnavailableError(
          absl::StrCat("TLS handshake with ", peer_, " failed: ", HandshakeFailure(err)));
    }
  }

  absl::Status WriteAll(absl::string_view data) {
    ERR_clear_error();
    // Memory BIOs take everything: SSL_write completes or fails outright.
    int rc = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
    if (rc != static_cast<int>(data.size())) {
      return absl::UnavailableError(
          absl::StrCat("connection to ", peer_, " failed: TLS write: ", TlsErrorText()));
    }
    return Flush("sending the request to");
  }

  // Read returns up to `n` decrypted bytes, 0 at the end of the stream.
  absl::StatusOr<size_t> Read(char* buf, size_t n) {
    for (;;) {
      ERR_clear_error();
      int rc = SSL_read(ssl_, buf, static_cast<int>(std::min(n, kIoChunk)));
      if (rc > 0) return static_cast<size_t>(rc);
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify
      // The server closed TCP without close_notify: the end of the stream as
      // well. A body framed by Content-Length or chunks still detects truncation.
      if (err == SSL_ERROR_SYSCALL && eof_ && ERR_peek_error() == 0) return 0;
      if (err == SSL_ERROR_WANT_READ) {
        // BoringSSL may have something to send first (a KeyUpdate reply).
        absl::Status flushed = Flush("waiting for the response from");
        if (!flushed.ok()) return flushed;
        absl::Status filled = FillFromSocket("waiting for the response from");
        if (!filled.ok()) return filled;
        continue;
      }
      std::string why = TlsErrorText();
      return absl::UnavailableError(absl::StrCat(
          "connection to ", peer_, " failed: TLS read: ", why.empty() ? "unexpected error" : why));
    }
  }

 private:
  // Wait polls the socket for `events` until the deadline.
  absl::Status Wait(int16_t events, absl::string_view phase) {
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - SteadyClock::now());
      if (left.count() <= 0) {
        return absl::DeadlineExceededError(absl::StrCat(
            "timed out after ", absl::FormatDuration(timeout_), " ", phase, " ", peer_));
      }
      if (cancelled_ != nullptr && cancelled_->load(std::memory_order_acquire)) {
        return absl::CancelledError(absl::StrCat("request to ", peer_, " cancelled"));
      }
      // Round up so a sub-millisecond remainder does not spin; wake up now
      // and then to notice a cancellation.
      int wait_ms = static_cast<int>(
          std::min<int64_t>(left.count() + 1, cancelled_ != nullptr ? kCancelPollMs : 60'000));
      pollfd p{fd_, events, 0};
      int rc = poll(&p, 1, wait_ms);
      if (rc > 0) return absl::OkStatus();  // ready, or an error the next call reports
      if (rc < 0 && errno != EINTR) {
        return absl::UnavailableError(
            absl::StrCat("connection to ", peer_, " failed: poll: ", ErrnoText(errno)));
      }
    }
  }

  // Flush sends everything BoringSSL has written to wbio_.
  absl::Status Flush(absl::string_view phase) {
    char chunk[kIoChunk];
    while (BIO_pending(wbio_) > 0) {
      int n = BIO_read(wbio_, chunk, sizeof(chunk));
      if (n <= 0) break;
      size_t sent = 0;
      while (sent < static_cast<size_t>(n)) {
        ssize_t w = send(fd_, chunk + sent, n - sent, MSG_NOSIGNAL);
        if (w > 0) {
          sent += static_cast<size_t>(w);
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          absl::Status ready = Wait(POLLOUT, phase);
          if (!ready.ok()) return ready;
        } else if (w < 0 && errno != EINTR) {
          return absl::UnavailableError(
              absl::StrCat("connection to ", peer_, " failed: send: ", ErrnoText(errno)));
        }
      }
    }
    return absl::OkStatus();
  }

  // FillFromSocket waits for bytes from the server and hands them to rbio_.
  absl::Status FillFromSocket(absl::string_view phase) {
    char chunk[kIoChunk];
    for (;;) {
      ssize_t r = recv(fd_, chunk, sizeof(chunk), 0);
      if (r > 0) {
        BIO_write(rbio_, chunk, static_cast<int>(r));
        return absl::OkStatus();
      }
      if (r == 0) {
        eof_ = true;
        BIO_set_mem_eof_return(rbio_, 0);  // BoringSSL now sees the end of the stream
        return absl::OkStatus();
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        absl::Status ready = Wait(POLLIN, phase);
        if (!ready.ok()) return ready;
      } else if (errno != EINTR) {
        return absl::UnavailableError(
            absl::StrCat("connection to ", peer_, " failed: recv: ", ErrnoText(errno)));
      }
    }
  }

  std::string HandshakeFailure(int err) {
    uint32_t e = ERR_peek_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      int64_t result = SSL_get_verify_result(ssl_);
      return absl::StrCat("certificate verify failed (", X509_verify_cert_error_string(result),
                          ")");
    }
    std::string why = TlsErrorText();
    if (!why.empty()) return why;
    if (eof_) return "the server closed the connection";
    return absl::StrCat("unexpected error ", err);
  }

  std::string peer_;
  absl::Duration timeout_;
  const std::atomic<bool>* cancelled_;  // not owned; may be null
  SteadyClock::time_point deadline_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;   // not owned
  BIO* rbio_ = nullptr;  // owned by ssl_
  BIO* wbio_ = nullptr;  // owned by ssl_
  bool eof_ = false;
};

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> MakeContext(absl::string_view ca_pem) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION)) {
    return absl::InternalError("cannot create a TLS context");
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
  bssl::UniquePtr<BIO> bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  int count = 0;
  ERR_clear_error();
  for (;;) {
    bssl::UniquePtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    if (!X509_STORE_add_cert(store, cert.get())) {
      uint32_t e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
        return absl::InvalidArgumentError("cannot add a CA certificate to the trust store");
      }
    }
    ERR_clear_error();
    ++count;
  }
  uint32_t e = ERR_peek_last_error();
  bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!clean_end) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA bundle: certificate ", count + 1, " is not valid PEM"));
  }
  if (count == 0) return absl::InvalidArgumentError("CA bundle holds no PEM certificate");
  static constexpr uint8_t kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));  // 0 on success
  return ctx;
}

std::string BuildRequest(const HttpsTarget& target, const std::string& name,
                         absl::string_view method, absl::string_view path,
                         const HttpHeaders& headers, absl::string_view body) {
  std::string authority = HostPort(name, target.port);
  if (target.port == 443) authority.resize(authority.size() - 4);  // drop ":443"
  std::string req = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: ", authority, "\r\n");
  bool has_type = false, has_accept = false, has_agent = false;
  for (const auto& [field, value] : headers) {
    has_type |= absl::EqualsIgnoreCase(field, "content-type");
    has_accept |= absl::EqualsIgnoreCase(field, "accept");
    has_agent |= absl::EqualsIgnoreCase(field, "user-agent");
    absl::StrAppend(&req, field, ": ", value, "\r\n");
  }
  if (!has_type) absl::StrAppend(&req, "Content-Type: application/json\r\n");
  if (!has_accept) absl::StrAppend(&req, "Accept: application/json\r\n");
  if (!has_agent) absl::StrAppend(&req, "User-Agent: ", kUserAgent, "\r\n");
  absl::StrAppend(&req, "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  return req;
}

absl::StatusOr<HttpResult> Exchange(const HttpsTarget& target, absl::string_view method,
                                    absl::string_view path, const HttpHeaders& headers,
                                    absl::string_view body, absl::Duration timeout,
                                    absl::Duration stream_timeout,
                                    const std::atomic<bool>* cancelled, const BodySink* sink);

}  // namespace

std::string HostPort(absl::string_view host, uint16_t port) {
  return JoinHostPort(Unbracket(host), port);
}

absl::StatusOr<HttpResult> Post(const HttpsTarget& target, absl::string_view path,
                                const HttpHeaders& headers, absl::string_view body,
                                absl::Duration timeout) {
  return Request(target, "POST", path, headers, body, timeout);
}

absl::StatusOr<HttpResult> Request(const HttpsTarget& target, absl::string_view method,
                                   absl::string_view path, const HttpHeaders& headers,
                                   absl::string_view body, absl::Duration timeout) {
  return Exchange(target, method, path, headers, body, timeout, timeout, nullptr, nullptr);
}

absl::StatusOr<HttpResult> StreamRequest(const HttpsTarget& target, absl::string_view method,
                                         absl::string_view path, const HttpHeaders& headers,
                                         absl::Duration timeout, absl::Duration stream_timeout,
                                         const std::atomic<bool>* cancelled, BodySink sink) {
  return Exchange(target, method, path, headers, "", timeout, stream_timeout, cancelled, &sink);
}

namespace {

absl::StatusOr<HttpResult> Exchange(const HttpsTarget& target, absl::string_view method,
                                    absl::string_view path, const HttpHeaders& headers,
                                    absl::string_view body, absl::Duration timeout,
                                    absl::Duration stream_timeout,
                                    const std::atomic<bool>* cancelled, const BodySink* sink) {
  absl::Status valid = ValidateRequest(target, method, path, headers, timeout);
  if (!valid.ok()) return valid;
  const std::string host = Unbracket(target.host);
  const std::string name = Unbracket(target.server_name.empty() ? target.host : target.server_name);
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = MakeContext(target.ca_pem);
  if (!ctx.ok()) return ctx.status();
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx->get()));
  if (ssl == nullptr) return absl::InternalError("cannot create a TLS connection");
  SSL_set_connect_state(ssl.get());
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  if (IsIpLiteral(name)) {
    // RFC 6066: no SNI for an IP address; the certificate needs an IP SAN.
    if (!X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())) {
      return absl::InvalidArgumentError(absl::StrCat("bad server IP address ", name));
    }
  } else {
    if (!X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) ||
        !SSL_set_tlsext_host_name(ssl.get(), name.c_str())) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad server name \"", absl::CHexEscape(name), "\""));
    }
  }

  const std::string peer = HostPort(host, target.port);
  Connection conn(peer, timeout, cancelled);
  absl::Status s = conn.Connect(host, target.port);
  if (!s.ok()) return s;
  conn.StartTls(ssl.get());
  s = conn.Handshake();
  if (!s.ok()) return s;
  s = conn.WriteAll(BuildRequest(target, name, method, path, headers, body));
  if (!s.ok()) return s;
  if (stream_timeout != timeout) conn.Restart(stream_timeout);
  auto read = [&conn](char* buf, size_t n) { return conn.Read(buf, n); };
  if (sink != nullptr) return ReadHttpStream(read, *sink, peer);
  return ReadHttpResponse(read, peer);
}

}  // namespace

}  // namespace tether::control::kubernetes
