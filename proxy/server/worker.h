// Worker: one thread, one event loop (Dispatcher), its own listening sockets
// (SO_REUSEPORT, so the kernel spreads connections across workers), and the
// connections it accepted. Nothing here takes a lock on the data path: the
// identity and policy are immutable snapshots, read for each new connection
// through this worker's SnapshotReaders (a lock only once after each change).
//
//   Worker w(context, 0);
//   TETHER_RETURN_IF_ERROR(w.Listen(inbound_addr, outbound_addr));
//   w.Start();
//   ... w.StopAccepting(); ... w.Stop();
#ifndef TETHER_PROXY_SERVER_WORKER_H_
#define TETHER_PROXY_SERVER_WORKER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "common/clock.h"
#include "common/policy/policy.h"
#include "common/policy/traffic.h"
#include "common/sync/atomic_shared_ptr.h"
#include "proxy/discovery/endpoint_table.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/http1_forwarder.h"
#include "proxy/http/http1_observer.h"
#include "proxy/http/http_observer.h"
#include "proxy/http/http_stats.h"
#include "proxy/http/request_tap.h"
#include "proxy/http/retry_budget.h"
#include "proxy/http/upstream_pool.h"
#include "proxy/identity/identity_manager.h"
#include "proxy/lb/p2c_balancer.h"
#include "proxy/net/socket.h"
#include "proxy/relay/relay.h"
#include "proxy/server/access_log.h"
#include "proxy/server/config.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/server/failure_log.h"
#include "proxy/server/metrics.h"
#include "proxy/server/own_listeners.h"
#include "proxy/tls/tls_transport.h"

namespace tether::proxy {

// What every worker shares, read-only (or atomic).
struct ProxyContext {
  const ProxyConfig* config = nullptr;
  IdentityManager* identity = nullptr;
  ProxyMetrics* metrics = nullptr;
  const Clock* clock = nullptr;
  const AtomicSharedPtr<const policy::CompiledPolicy>* policy = nullptr;
  // Whether an authorization policy is held (--policy-file, or the control
  // plane's first snapshot). Until then inbound connections are refused
  // ("no_policy"): a workload must not be served under no policy just
  // because the policy has not arrived. Null: always held.
  const std::atomic<bool>* policy_held = nullptr;
  // The endpoint registry as last received (null until the first update).
  const AtomicSharedPtr<const EndpointTable>* endpoints = nullptr;
  AccessLog* access_log = nullptr;                // may be null
  ConnectionLimiter* limiter = nullptr;           // --max-connections, all workers
  std::optional<SocketAddress> inbound_forward;   // explicit mode
  std::optional<SocketAddress> outbound_forward;  // explicit mode
  // Transparent mode: the proxy's own listeners, refused as destinations.
  // Filled before the workers start; may be null (then nothing is refused).
  const OwnListeners* own_listeners = nullptr;
  // HTTP golden metrics, one table per worker (by index); null: off.
  HttpStats* http_stats = nullptr;
  // TrafficPolicies (timeouts, retries) as last received; null, or a null
  // table: none.
  const AtomicSharedPtr<const policy::TrafficTable>* traffic = nullptr;
  // Recent requests for `tetherctl top` (GET /requests); null: off.
  RequestTap* tap = nullptr;
};

// Connection: one proxied connection from accept to close.
struct Connection {
  uint64_t id = 0;
  Direction direction = Direction::kOutbound;
  SocketAddress peer;         // who connected to us
  SocketAddress destination;  // where we forward
  absl::Time started;
  TlsObservation tls;
  std::string authz;           // the policy decision (inbound)
  std::string failure_detail;  // why a connection was refused, when not in tls/authz
  // Inbound before the relay: the TLS handshake or protocol detection.
  std::unique_ptr<Transport> pending;
  UniqueFd pending_fd;  // permissive mode, before the protocol is known
  std::unique_ptr<FileEvent> pending_event;
  std::unique_ptr<Timer> pending_timer;
  std::unique_ptr<Relay> relay;
  // Outbound HTTP/1.1 under a TrafficPolicy: terminated instead of relayed.
  std::unique_ptr<Http1Forwarder> forwarder;
  // The relay's HTTP observer (owned by the relay), if any.
  HttpObserver* http_observer = nullptr;
  // Outbound: what the destination's Service port declares (registry).
  DeclaredProtocol declared = DeclaredProtocol::kUnknown;
};

// OutboundPlan: how an outbound connection leaves (outbound.cc).
struct OutboundPlan {
  std::vector<pki::SpiffeId> allowed;  // the servers that may answer; empty: any mesh identity
  bool passthrough = false;            // plain TCP, outside the mesh
  const char* route = "mtls_expected";
  // The registry's entry for the destination (kept alive by `table`), if any.
  std::shared_ptr<const EndpointTable> table;
  const EndpointTable::Entry* entry = nullptr;
  // HTTP/1.1 requests are balanced over the Service's meshed backends
  // (outbound_balance.cc); null: they go to the destination.
  std::shared_ptr<P2cBalancer> balancer;
};

class Worker {
 public:
  Worker(ProxyContext context, int index);
  ~Worker();

  // Listen binds this worker's sockets; an address without a value is not
  // listened on. Call before Start.
  absl::Status Listen(const std::optional<SocketAddress>& inbound,
                      const std::optional<SocketAddress>& outbound);
  std::optional<SocketAddress> inbound_address() const { return inbound_address_; }
  std::optional<SocketAddress> outbound_address() const { return outbound_address_; }

  void Start();
  // StopAccepting closes the listeners; open connections go on, except
  // HTTP connections idle between requests (closed now: "drained_idle") and
  // idle pooled upstream connections; forwarded ones close after the answer
  // in flight.
  void StopAccepting();
  // Stop resets what is still open and joins the thread.
  void Stop();
  size_t active_connections() const { return active_.load(std::memory_order_relaxed); }
  // CloseDenied evaluates the current policy again for every open inbound
  // connection and closes those it denies (on the worker's thread, soon).
  void CloseDenied();
  // CloseRevoked closes (outcome closed_by_revocation) every open connection,
  // either direction, whose verified peer certificate `update` revokes by
  // its leaf's serial or its SPIFFE ID: the client's certificate inbound,
  // the server's outbound. Runs on the worker's thread, soon; the update is
  // also kept there, so that an inbound handshake that completes afterwards
  // against an older list is refused the same way.
  void CloseRevoked(RevocationUpdate update);
  // failures: this worker's recent failures (read from any thread).
  const FailureLog& failures() const { return failures_; }

 private:
  void OnAccept(Direction direction);
  void HandleOutbound(UniqueFd fd, const SocketAddress& peer);
  // ConnectOutbound dials the destination and relays (outbound.cc).
  void ConnectOutbound(Connection* conn, UniqueFd fd, OutboundPlan plan);
  // OutboundTls: the client TLS options for a connection to `to` (the
  // destination, or a Service's backend) whose server must prove one of
  // `allowed` (empty: any mesh identity).
  TlsTransport::Options OutboundTls(Connection* conn, const SocketAddress& to,
                                    const std::vector<pki::SpiffeId>& allowed,
                                    std::shared_ptr<const IdentitySnapshot> identity);
  // UpstreamKey: the address and the identities it must prove (TLS
  // sessions and pooled connections are kept by it).
  std::string UpstreamKey(const SocketAddress& to, const std::vector<pki::SpiffeId>& allowed) const;
  // outbound_http.cc: whether a TrafficPolicy names the destination; then
  // DetectHttp peeks at the app's first bytes and hands HTTP/1.1 to an
  // Http1Forwarder, anything else (or nothing within
  // --http-detect-timeout) to ConnectOutbound.
  bool WantsHttpForwarding(const Connection& conn, const OutboundPlan& plan);
  // outbound_balance.cc: BalancerFor is this worker's balancer over the
  // meshed backends of the Service entry `plan` names (updated when the
  // registry changed), or null: not a Service, --http-balance=false, or no
  // backend is meshed. SetBalancing fills the forwarder's pick,
  // attempt_done and the per-backend parts of dial.
  std::shared_ptr<P2cBalancer> BalancerFor(const Connection& conn, const OutboundPlan& plan);
  void SetBalancing(Http1Forwarder::Options& o, Connection* conn,
                    std::shared_ptr<const OutboundPlan> plan);
  // BackendIdentities: who must answer at `backend`, one of `plan`'s
  // Service backends: its own registry entry's identities, else the Service's.
  std::vector<pki::SpiffeId> BackendIdentities(const OutboundPlan& plan,
                                               const SocketAddress& backend) const;
  // PolicyIdentities: the identities a TrafficPolicy is looked up by.
  std::vector<pki::SpiffeId> PolicyIdentities(const OutboundPlan& plan) const;
  void DetectHttp(Connection* conn, UniqueFd fd, OutboundPlan plan);
  void OnDetectEvent(uint64_t id, std::shared_ptr<OutboundPlan> plan, bool timed_out);
  void StartForwarder(Connection* conn, UniqueFd fd, OutboundPlan plan);
  RetryBudget* BudgetFor(const policy::RequestBehaviour& b);
  void HandleInbound(UniqueFd fd, const SocketAddress& peer);
  void ContinueInbound(Connection* conn, uint32_t ready);
  void InboundReady(Connection* conn, bool authenticated);
  void StartRelay(Connection* conn, std::unique_ptr<Transport> downstream, UniqueFd upstream_fd,
                  bool connecting, std::unique_ptr<Transport> upstream);
  // IsOpaque: bytes only, never sniffed: the destination's Service port
  // declares it opaque, or its port is in --opaque-ports and the Service
  // port does not declare HTTP.
  bool IsOpaque(const Connection& conn) const;
  // MakeHttpObserver: the HTTP metrics tap for `conn`'s relay, or null when
  // off or the connection is opaque.
  std::unique_ptr<HttpObserver> MakeHttpObserver(const Connection& conn);
  // OnRequest: a request on `conn` was answered: the access log line
  // (--access-log-requests) and the tap (while watched).
  void OnRequest(const Connection& conn, const HttpRequestRecord& r);
  void LogRequest(const Connection& conn, const HttpRequestRecord& r);
  // WantsRequests: whether OnRequest would record the next request.
  bool WantsRequests() const;
  // SetRequestHooks fills an observer's or forwarder's on_request and
  // want_request for `conn` (nothing when neither log nor tap is on).
  template <typename O>
  void SetRequestHooks(O& o, const Connection* conn) {
    if (!LogsRequests() && ctx_.tap == nullptr) return;
    o.on_request = [this, conn](const HttpRequestRecord& r) { OnRequest(*conn, r); };
    o.want_request = [this] { return WantsRequests(); };
  }
  bool LogsRequests() const {
    return ctx_.access_log != nullptr && ctx_.config->access_log_requests;
  }
  void Refuse(Connection* conn, absl::string_view outcome);
  // RefuseOwnListener refuses (outcome "own_listener") and returns true when
  // an intercepted connection's original destination is one of this proxy's
  // own listeners; `fd` is the accepted socket, reset then.
  bool RefuseOwnListener(Connection* conn, UniqueFd& fd);
  void Close(uint64_t id, const RelayStats* stats, absl::string_view outcome);
  void RecordFailure(const Connection& conn, const RelayStats* stats, absl::string_view outcome);
  RelayOptions MakeRelayOptions() const;
  // ValidIdentity: the current certificate, or null when there is none or it
  // has expired (then no mTLS can be offered or accepted).
  std::shared_ptr<const IdentitySnapshot> ValidIdentity() const;
  // NoCertificateDetail says why ValidIdentity is null, for the failure log.
  std::string NoCertificateDetail() const;
  Connection* NewConnection(Direction direction, const SocketAddress& peer);
  // RevokedPeer: a sentence if the latest revocation list this worker was
  // given names `conn`'s verified peer; empty otherwise.
  std::string RevokedPeer(const Connection& conn) const;

  const ProxyContext ctx_;
  const int index_;
  // Worker-thread caches of the shared snapshots (mutable: read from const
  // helpers on the worker's thread).
  mutable SnapshotReader<const IdentitySnapshot> identity_;
  mutable SnapshotReader<const policy::CompiledPolicy> policy_;
  mutable SnapshotReader<const EndpointTable> endpoints_;
  mutable SnapshotReader<const policy::TrafficTable> traffic_;
  // Balancers by Service address ("ip:port"), with the registry version
  // their backends are from; this worker's.
  struct Balanced {
    uint64_t version = 0;
    std::shared_ptr<P2cBalancer> lb;
  };
  absl::flat_hash_map<std::string, Balanced> balancers_;
  uint64_t random_state_ = 0;  // xorshift for the balancers (worker thread only)
  // Retry budgets by TrafficPolicy ("namespace/name"), this worker's.
  absl::flat_hash_map<std::string, std::unique_ptr<RetryBudget>> budgets_;
  bool draining_ = false;  // StopAccepting ran (worker thread only)
  std::unique_ptr<Dispatcher> dispatcher_;
  UniqueFd inbound_listener_;
  UniqueFd outbound_listener_;
  std::optional<SocketAddress> inbound_address_;
  std::optional<SocketAddress> outbound_address_;
  std::unique_ptr<FileEvent> inbound_accept_;
  std::unique_ptr<FileEvent> outbound_accept_;
  std::unique_ptr<Timer> accept_retry_;
  // Outbound TLS sessions by upstream; declared before connections_, whose
  // transports use it, so that it outlives them.
  TlsSessionCache session_cache_;
  VerifiedPeerCache peer_cache_;  // both directions' peers
  // Idle mTLS connections for HTTP forwarding; after the caches its
  // transports use, so that it is destroyed before them.
  std::unique_ptr<UpstreamPool> upstream_pool_;
  // Relay buffers, taken while bytes are in flight (mutable: MakeRelayOptions
  // is const and hands it out).
  mutable BufferPool buffer_pool_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  // The latest revocation list given to CloseRevoked (worker thread only).
  RevocationUpdate revocations_;
  std::atomic<size_t> active_{0};
  FailureLog failures_;
  std::thread thread_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_WORKER_H_
