// TcpProxy: a plain TCP proxy on one Dispatcher. It accepts on its own
// listening socket, connects every connection to one fixed upstream address
// and relays the bytes with a Relay over two PlainTransports. For tests,
// benchmarks and explicit mode; TLS listeners compose Relays the same way
// with other transports.
//
//   TcpProxyOptions options;
//   options.listen_address = *SocketAddress::Parse("127.0.0.1:0");
//   options.upstream_address = *SocketAddress::Parse("127.0.0.1:8080");
//   options.max_connections = 1000;
//   absl::StatusOr<std::unique_ptr<TcpProxy>> proxy = TcpProxy::Create(*dispatcher, options);
//   (*proxy)->listen_address();   // the bound port
//
// Over max_connections, a new connection is accepted and reset at once
// (counted in rejected_over_limit). Threading: create, use and destroy on
// the dispatcher's thread (or before it runs). Destroying the proxy resets
// every open connection without calling on_relay_close.
#ifndef TETHER_PROXY_RELAY_TCP_PROXY_H_
#define TETHER_PROXY_RELAY_TCP_PROXY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/net/socket.h"
#include "proxy/relay/relay.h"

namespace tether::proxy {

struct TcpProxyOptions {
  SocketAddress listen_address;
  SocketAddress upstream_address;
  int backlog = 1024;
  bool reuse_port = false;
  size_t max_connections = 0;  // 0: no limit
  int max_accepts_per_event = 64;
  // Pause after accept() failed for lack of resources (EMFILE, ...).
  absl::Duration accept_retry_delay = absl::Milliseconds(100);
  RelayOptions relay;
  // Called on the dispatcher thread when a connection ended (optional).
  std::function<void(const RelayStats&)> on_relay_close;
};

struct TcpProxyStats {
  uint64_t accepted = 0;             // connections relayed
  uint64_t rejected_over_limit = 0;  // accepted and reset: max_connections reached
  uint64_t accept_errors = 0;        // accept() failures (EMFILE, ...)
  uint64_t closed = 0;               // relays ended (by any outcome)
  uint64_t bytes_to_upstream = 0;
  uint64_t bytes_to_downstream = 0;
  uint64_t outcomes[kRelayOutcomeCount] = {};  // indexed by RelayOutcome

  uint64_t outcome(RelayOutcome o) const { return outcomes[static_cast<int>(o)]; }
};

class TcpProxy {
 public:
  // Create binds the listening socket and starts accepting.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Create(Dispatcher& dispatcher,
                                                          TcpProxyOptions options);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  const SocketAddress& listen_address() const { return listen_address_; }
  const TcpProxyStats& stats() const { return stats_; }
  size_t active_connections() const { return relays_.size(); }
  // BufferedBytes: bytes held in all relays' buffers right now.
  size_t BufferedBytes() const;

 private:
  TcpProxy(Dispatcher& dispatcher, TcpProxyOptions options, UniqueFd listener, SocketAddress bound);
  void OnAcceptReady();
  void StartRelay(UniqueFd downstream);
  void OnRelayClosed(uint64_t id, const RelayStats& stats);
  void Count(const RelayStats& stats);

  Dispatcher& dispatcher_;
  const TcpProxyOptions options_;
  UniqueFd listener_;
  SocketAddress listen_address_;
  TcpProxyStats stats_;
  uint64_t next_id_ = 0;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Relay>> relays_;
  // Destroyed before listener_ closes.
  std::unique_ptr<FileEvent> accept_event_;
  std::unique_ptr<Timer> accept_retry_timer_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_RELAY_TCP_PROXY_H_
