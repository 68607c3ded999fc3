// FakeHttpsServer: a small BoringSSL HTTPS/1.1 server on 127.0.0.1:0 in its
// own thread, standing in for the Kubernetes API server in tests.
//
//   FakeHttpsServer server(cert, [](const RecordedRequest& req) {
//     return HttpResponse(201, R"({"kind":"TokenReview", ...})");
//   });
//   ... Post to 127.0.0.1:server.port() ...
//   EXPECT_EQ(server.requests()[0].Header("authorization"), "Bearer xyz");
//
// It serves one connection at a time, reads one request (Content-Length body)
// per connection, records it, writes the raw bytes the responder returns and
// closes the connection. An empty response closes without answering.
// Destroying the server stops it; a responder may block until then only if
// the test unblocks it first.
//
// A streaming server (the StreamResponder constructor) serves every
// connection on its own thread and lets the responder write the response
// over time, as an API server writes a watch; it closes the connection when
// the responder returns.
#ifndef TETHER_TESTS_CONTROL_KUBERNETES_FAKE_HTTPS_SERVER_H_
#define TETHER_TESTS_CONTROL_KUBERNETES_FAKE_HTTPS_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/ssl.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "common/sync/mutex.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether::testing {

struct RecordedRequest {
  std::string sni;  // server name the client sent, "" if none
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;

  // Header returns the first value of `name` (lowercase), "" if absent.
  std::string Header(absl::string_view name) const;
  int HeaderCount(absl::string_view name) const;
};

// ResponseStream is a streaming responder's side of one connection.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Write sends `bytes` at once; false when the client is gone.
  virtual bool Write(absl::string_view bytes) = 0;
  // stopping: the server is being destroyed; return soon.
  virtual bool stopping() const = 0;
};

class FakeHttpsServer {
 public:
  using Responder = std::function<std::string(const RecordedRequest&)>;
  using StreamResponder = std::function<void(const RecordedRequest&, ResponseStream&)>;

  // `max_version` caps the TLS version the server speaks (0: TLS 1.3).
  FakeHttpsServer(const TestCert& cert, Responder responder, uint16_t max_version = 0);
  FakeHttpsServer(const TestCert& cert, StreamResponder responder);
  ~FakeHttpsServer();
  FakeHttpsServer(const FakeHttpsServer&) = delete;
  FakeHttpsServer& operator=(const FakeHttpsServer&) = delete;

  uint16_t port() const { return port_; }
  // SetResetting(true) makes the server reset every connection at once,
  // before TLS, as an unreachable API server behind a load balancer would;
  // SetResetting(false) makes it answer again.
  void SetResetting(bool resetting) { resetting_.store(resetting); }
  // connections counts accepted TCP connections, TLS or not.
  int connections() const { return connections_.load(); }
  std::vector<RecordedRequest> requests() const;
  // errors lists what went wrong on the server's side (handshakes, requests).
  std::vector<std::string> errors() const;
  // WaitForErrors blocks until at least `n` errors were recorded.
  void WaitForErrors(size_t n) const;

 private:
  void Serve();
  void Handle(int fd);
  void AddError(std::string error);

  void Init(const TestCert& cert, uint16_t max_version);

  Responder responder_;
  StreamResponder stream_responder_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> handlers_;  // streaming: one per connection (Serve's thread only)
  bssl::UniquePtr<SSL_CTX> ctx_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> resetting_{false};
  mutable Mutex mu_;
  mutable CondVar errors_changed_;
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// ReservedPort is a TCP port on 127.0.0.1 held by a bound socket that either
// listens without ever accepting (the kernel completes TCP handshakes, nobody
// answers) or does not listen (connections are refused). Unlike a closed
// server's port, no other process can take it while the test runs.
class ReservedPort {
 public:
  explicit ReservedPort(bool listening);
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// HttpResponse formats a response with a Content-Length body.
std::string HttpResponse(int status, absl::string_view body,
                         absl::string_view content_type = "application/json");

// ChunkedHttpResponse formats a response whose body is sent in `chunks`.
std::string ChunkedHttpResponse(int status, const std::vector<std::string>& chunks);

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_KUBERNETES_FAKE_HTTPS_SERVER_H_
