// AdminServer: a small HTTP/1.1 server for operators' endpoints (/metrics,
// /ready, /healthz, JSON status pages) in the control plane and the proxy.
//
//   AdminServer server;
//   server.Handle("GET", "/healthz", [](const HttpRequest&) { return HttpResponse::Text("ok\n");
//   }); absl::StatusOr<int> port = server.Start("127.0.0.1:15000");  // or "[::1]:0" for any port
//
// It is not on the data path: one acceptor thread and one thread per open
// connection, at most `max_connections` of them (a connection over the cap is
// answered 503 and closed). Keep-alive and pipelining are supported. Every
// request must arrive whole within `read_timeout` of the previous response
// (or of the accept), so a slow or idle client cannot hold a thread forever.
//
// Only loopback peers are served unless `allow_remote` is set; others are
// closed at accept, with a log line.
//
// With SetHttp2Handoff, a connection that opens with the HTTP/2 client preface
// is handed over as a file descriptor, so one port can also serve gRPC
// (grpc::AddInsecureChannelFromFd).
//
// With a `stream_factory` (AdminServerOptions), every connection's bytes go
// through the ByteStream it makes: TlsServerContext (common/http/tls_stream.h)
// serves HTTPS this way.
#ifndef TETHER_COMMON_HTTP_SERVER_H_
#define TETHER_COMMON_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <sys/socket.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http/request.h"
#include "common/http/response.h"
#include "common/sync/mutex.h"
#include "common/unix_socket.h"

namespace tether::http {

// ByteStream carries one connection's bytes: the socket itself, or TLS over
// it. Calls never block: one that cannot proceed now returns -1 with
// `*out_wait` set to POLLIN or POLLOUT (what to wait for before calling
// again); -1 with `*out_wait` 0 is a failure, and the connection is closed.
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Read returns bytes read (> 0), 0 at the end of the stream, or -1.
  virtual ssize_t Read(char* buf, size_t n, int16_t* out_wait) = 0;
  // Write returns bytes written (> 0) or -1.
  virtual ssize_t Write(const char* buf, size_t n, int16_t* out_wait) = 0;
  // Shutdown says goodbye (TLS close_notify), best effort, before the
  // server closes the socket.
  virtual void Shutdown() {}
};

// A ByteStreamFactory wraps an accepted socket (which stays owned by the
// server); null refuses the connection.
using ByteStreamFactory = std::function<std::unique_ptr<ByteStream>(int fd)>;

struct AdminServerOptions {
  // A request must be complete within this long after the connection became
  // idle; otherwise the server closes the connection. Also bounds each write.
  absl::Duration read_timeout = absl::Seconds(10);
  // Connections served at once; one more is answered 503 and closed.
  int max_connections = 16;
  // Serve non-loopback peers. Off by default: admin endpoints expose internals.
  bool allow_remote = false;
  HttpParseLimits limits;
  // How connections carry bytes; null: plain TCP. A factory and
  // SetHttp2Handoff do not mix (the handoff is ignored).
  ByteStreamFactory stream_factory;
  // For a "unix:PATH" listener: the socket file's mode and group, which
  // decide the local users who may connect.
  UnixListenOptions unix_socket;
  // Receives one line per notable event (refused peer, over the cap). Default:
  // standard error.
  std::function<void(absl::string_view)> log;
};

// IsLoopbackPeer says whether `addr` is 127.0.0.0/8, ::1 or an IPv4-mapped
// 127.0.0.0/8 address: the TCP peers served when `allow_remote` is off (a
// Unix socket's peers are admitted by its file's mode instead).
bool IsLoopbackPeer(const sockaddr_storage& addr);

class AdminServer {
 public:
  // A Handler runs on the connection's thread; it may block, but Stop() waits
  // for it. It must not call Stop().
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  explicit AdminServer(AdminServerOptions options = {});
  ~AdminServer();  // Stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Handle routes `method` (e.g. "GET") on the exact `path` (no query) to
  // `handler`, replacing an earlier one. A GET route also answers HEAD.
  // Unknown paths get 404; a known path with another method gets 405.
  void Handle(absl::string_view method, absl::string_view path, Handler handler);

  // SetHttp2Handoff: a connection whose first bytes are the HTTP/2 client
  // preface is passed to `handoff` instead of being served. The preface stays
  // unread in the socket; `handoff` owns the descriptor from then on (and must
  // close it). It runs on the connection's thread and should return quickly.
  void SetHttp2Handoff(std::function<void(int fd)> handoff);

  // Start binds `listen_host_port` ("127.0.0.1:15000", "[::1]:0",
  // "localhost:0", or "unix:/run/tether/control.sock" with the mode and group
  // of options.unix_socket) and starts serving. Returns the bound port (0 for
  // a Unix socket). Fails if the address is malformed or cannot be bound, or
  // if Start was called before. Stop removes a Unix socket's file.
  absl::StatusOr<int> Start(const std::string& listen_host_port);

  // Stop closes the listener and every connection and joins all threads.
  // Idle and half-received connections are cut at once; a running handler is
  // waited for. Idempotent.
  void Stop();

 private:
  struct Connection {
    std::thread thread;
    bool done = false;
  };
  enum class Io { kReady, kTimeout, kStopped, kError };

  absl::StatusOr<int> StartServing(int listen_fd, int bound_port)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AcceptLoop();
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeConnection(int fd);
  // SniffHttp2 returns true if the connection starts with the HTTP/2 preface;
  // false for anything else, with `*out_ok` false if the connection ended or
  // timed out before one byte could be judged.
  bool SniffHttp2(int fd, absl::Time deadline, bool* out_ok);
  HttpResponse Dispatch(const HttpRequest& request);
  Io Wait(int fd, int16_t events, absl::Time deadline);
  bool WriteAll(ByteStream& stream, int fd, absl::string_view data, absl::Time deadline);
  void LingeringClose(ByteStream& stream, int fd);
  void Log(absl::string_view line);

  const AdminServerOptions options_;
  int listen_fd_ = -1;
  std::optional<UnixListener> unix_listener_;  // set for a "unix:PATH" listener
  int wake_fd_ = -1;                           // an eventfd; readable once Stop() begins
  std::thread acceptor_;

  Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::map<std::string, Handler>> routes_ ABSL_GUARDED_BY(mu_);
  std::function<void(int)> http2_handoff_ ABSL_GUARDED_BY(mu_);
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_SERVER_H_
