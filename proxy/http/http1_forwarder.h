// Http1Forwarder: an app's outbound HTTP/1.1 connection, terminated, so that
// a TrafficPolicy can act on each request: a request timeout (504), retries
// of failed requests within a retry budget, and golden metrics counted by
// the proxy that answered rather than inferred. Requests go on over mTLS
// connections it dials itself (Options::dial), one at a time, on the same
// upstream connection while both sides keep it alive.
//
//   auto f = std::make_unique<Http1Forwarder>(dispatcher, std::move(app), options,
//                                             [&](const RelayStats& s) { /* may delete f */ });
//   f->Start();
//
// For each request: read its head (64 KiB at most, else 431), pick its
// behaviour (timeout, retries), dial or reuse an upstream, send the head
// without hop-by-hop headers and the body as received. The response's head
// decides: a retryable status is dropped and the request sent again (on the
// same connection when the answer is kept alive, the request was sent whole
// and its body is at most kMaxDiscardBytes, read out and dropped; else on a
// new one); any other is sent on to the app, then its body as received. A request is
// retried only while
//   - no byte of its response reached the app,
//   - its bytes so far are kept (at most policy::kMaxRetryBodyBytes),
//   - it is idempotent, or the policy allows others, or it never left
//     (connect failure),
//   - attempts and the budget allow, and its timeout has not passed.
// A kept-alive upstream that fails before answering an idempotent request is
// tried again once on a new connection (the server closed it idle), outside
// the policy and the budget; so is, when balanced (Options::pick), a request
// whose connection could not be made: to another pick (kMaxRepicks).
//
// Answers it makes itself carry `x-tether-error: <word>`: 502 (the upstream
// could not be reached, failed its handshake or reset), 504 (timeout), 400
// and 431 (a request it could not parse). Pipelined requests are answered
// in order, one at a time. A request asking to switch protocols (Upgrade,
// CONNECT) after the first one on a connection makes the forwarder close
// the app's connection unanswered, so the app opens a new one (which the
// worker's detection relays as a tunnel); HTTP/1.0 requests are forwarded
// with the connection closed after each.
//
// on_close runs once, from a dispatcher callback, after both sides are
// closed; the owner may destroy the forwarder in it. Destroying it earlier
// resets both sides. Dispatcher thread only.
#ifndef TETHER_PROXY_HTTP_HTTP1_FORWARDER_H_
#define TETHER_PROXY_HTTP_HTTP1_FORWARDER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/policy/traffic.h"
#include "proxy/event/dispatcher.h"
#include "proxy/http/http1_observer.h"
#include "proxy/http/http1_parser.h"
#include "proxy/http/http_stats.h"
#include "proxy/http/retry_budget.h"
#include "proxy/net/socket.h"
#include "proxy/net/transport.h"
#include "proxy/relay/relay.h"

namespace tether::proxy {

class Http1Forwarder {
 public:
  struct Dialed {
    std::unique_ptr<Transport> transport;
    bool connecting = false;  // the socket's connect() is still in progress
  };
  // Target: the endpoint an attempt goes to, as `pick` chose it (default:
  // the one destination, when there is no pick).
  struct Target {
    SocketAddress address;
    bool operator==(const Target& o) const { return address == o.address; }
  };
  enum class AttemptOutcome {
    kSuccess,    // a response head below 500 was sent on
    kFailure,      // 5xx, handshake failure, reset, timeout
    kUnreachable,  // no connection could be made (refused, connect timeout)
    kCancelled,  // ended for reasons not the endpoint's (the app left, a stale pooled connection)
  };
  struct Options {
    // Dial opens a new upstream to `target` (connect in progress, handshake not done).
    std::function<absl::StatusOr<Dialed>(const Target& target)> dial;
    // A worker's idle upstream connections (upstream_pool.h), may be null:
    // take_idle returns one to `target` that is handshaken and between
    // requests, or null; give_back keeps an upstream the forwarder no
    // longer needs (the app's connection ended cleanly between requests,
    // or the next request goes to another target).
    std::function<std::unique_ptr<Transport>(const Target& target)> take_idle;
    std::function<void(const Target& target, std::unique_ptr<Transport>)> give_back;
    // Load balancing, may be null (every attempt goes to the default
    // Target): pick chooses each attempt's target (a retry after a
    // connection failure or a retryable status picks again, except a
    // retry on the same kept-alive connection, which is not a pick), and
    // attempt_done reports, exactly once per pick, how it ended and its
    // latency (start to response head, or to the failure). A kept-alive
    // upstream to another target is given back before the attempt.
    std::function<Target()> pick;
    std::function<void(const Target& target, AttemptOutcome outcome, absl::Duration latency)>
        attempt_done;
    // Behaviour: the TrafficPolicy's answer for a request.
    std::function<policy::RequestBehaviour(absl::string_view method, absl::string_view path)>
        behaviour;
    // Budget: the worker's budget for the policy a request falls under (null: none).
    std::function<RetryBudget*(const policy::RequestBehaviour&)> budget;
    const Clock* clock = nullptr;
    // Golden metrics (outbound) and their peer label; stats may be null.
    WorkerHttpStats* stats = nullptr;
    std::function<std::string()> peer;
    std::function<void(const HttpRequestRecord&)> on_request;  // may be null
    std::function<bool()> want_request;  // on_request wants this one (null: always)
    // A retry sent (reason: "5xx", "reset", ...), or refused by the budget.
    std::function<void(absl::string_view reason)> on_retry;
    std::function<void()> on_budget_exhausted;
    absl::Duration connect_timeout = absl::Seconds(10);
    absl::Duration handshake_timeout = absl::Seconds(10);
    absl::Duration idle_timeout = absl::Hours(1);           // between requests
    absl::Duration retry_backoff = absl::Milliseconds(25);  // doubles, to 250 ms
  };
  using CloseCallback = std::function<void(const RelayStats&)>;
  // A retryable answer's body up to this is read out so that its
  // connection carries the retry.
  static constexpr uint64_t kMaxDiscardBytes = 64 * 1024;
  // Balanced: a request whose connection could not be made goes to another
  // pick, this many times at most (the balancer leaves unreachable
  // endpoints out at once).
  static constexpr int kMaxRepicks = 2;

  Http1Forwarder(Dispatcher& dispatcher, std::unique_ptr<Transport> downstream, Options options,
                 CloseCallback on_close);
  ~Http1Forwarder();
  Http1Forwarder(const Http1Forwarder&) = delete;
  Http1Forwarder& operator=(const Http1Forwarder&) = delete;

  void Start();
  // Drain: the proxy is shutting down. Between requests the app's connection
  // is closed now; otherwise after the answer in flight ("Connection: close"
  // if its head has not been sent yet). The upstream is not given back.
  void Drain();
  // Abort resets both sides now and reports `outcome` (revocation, shutdown).
  void Abort(RelayOutcome outcome, absl::string_view why);

  uint64_t requests() const { return requests_; }
  uint64_t retries() const { return retries_; }

 private:
  enum class UpState { kNone, kConnecting, kHandshaking, kReady };
  // How an attempt failed before any of its response was sent on.
  enum class Failure { kConnect, kHandshake, kReset, kTryTimeout };

  void OnDownstream(uint32_t ready);
  void OnUpstream(uint32_t ready);
  void Pump();
  bool ReadDownstream();
  bool ParseRequest();
  void StartRequest();
  void StartAttempt();
  void Dial();
  // ArmTryTimer: the earlier of `phase` (connect or handshake timeout;
  // infinite: none) and the per-try timeout.
  void ArmTryTimer(absl::Duration phase);
  void DriveUpstream();
  bool WriteUpstream();
  bool ReadUpstream();
  void OnResponseBytes(absl::Span<const uint8_t> data, bool eof);
  void OnResponseHead();
  bool WriteDownstream();
  void FinishRequest(int status);
  // UpstreamFailed: the attempt failed before any response byte was sent
  // on; retry if allowed, else answer `status` with `word`.
  void UpstreamFailed(Failure failure, int status, absl::string_view word,
                      absl::string_view detail);
  // CanRetry: whether the request may be sent again (`condition`: the
  // policy retries this failure; `never_sent`: it never left); takes the
  // retry from the budget when so.
  bool CanRetry(bool condition, bool never_sent);
  // Retry sends the request again after a backoff (budgeted) or at once,
  // on the same upstream connection when keep_upstream (a retryable answer
  // read to its end), else on another.
  void Retry(absl::string_view reason, bool budgeted, bool keep_upstream = false);
  void DropUpstream(bool abort);
  // EndAttempt reports the open pick's end to attempt_done (once).
  void EndAttempt(AttemptOutcome outcome);
  void Respond(int status, absl::string_view word, absl::string_view detail);
  void OnRequestTimeout();
  void OnTryTimeout();
  void Fail(RelayOutcome outcome, RelaySide side, absl::string_view error);
  void Finish();

  Dispatcher& dispatcher_;
  const Options options_;
  CloseCallback on_close_;
  std::unique_ptr<Transport> down_;
  std::unique_ptr<Transport> up_;
  UpState up_state_ = UpState::kNone;
  bool up_reused_ = false;     // the upstream carried an earlier request
  Target up_target_;           // where up_ goes
  Target attempt_target_;      // this attempt's
  bool attempt_open_ = false;  // picked, attempt_done not yet called
  bool keep_target_ = false;   // the next attempt reuses this connection (no pick)
  // Not known to block (edge-triggered: cleared by kWouldBlock, set by a
  // readable event), so that no read is tried that cannot return bytes.
  bool down_can_read_ = true;
  bool up_can_read_ = true;
  bool closing_ = false;
  bool finished_ = false;
  bool draining_ = false;

  // The app's side.
  std::string down_in_;  // read, not yet parsed
  bool down_eof_ = false;
  bool close_after_ = false;  // close the app's connection after this response
  std::string down_out_;      // to write to the app
  size_t down_out_off_ = 0;   // of down_out_, written
  Http1Parser request_parser_{Http1Parser::kRequest};

  // The request in flight.
  bool in_request_ = false;
  Http1Head request_;
  std::string request_wire_;      // serialized head and body bytes so far
  size_t request_sent_ = 0;       // of request_wire_, on this attempt
  uint64_t request_dropped_ = 0;  // bytes no longer kept (not retryable)
  bool request_kept_ = true;      // every byte is in request_wire_
  bool request_complete_ = false;
  size_t request_keep_limit_ = 0;  // head + kMaxRetryBodyBytes
  policy::RequestBehaviour behaviour_;
  int attempt_ = 0;
  bool stale_retry_used_ = false;  // also: the next attempt dials, never takes
  int repicks_ = 0;  // balanced: connect failures sent to another endpoint
  absl::Duration request_start_;
  absl::Duration attempt_start_;

  // The response of this attempt.
  std::unique_ptr<Http1Parser> response_parser_;
  bool response_committed_ = false;  // its head was sent on
  bool response_complete_ = false;
  bool upstream_keep_ = false;
  int response_status_ = 0;
  uint64_t response_bytes_ = 0;
  // A retryable answer being read out (dropped) before the retry.
  bool discarding_ = false;
  uint64_t discarded_bytes_ = 0;
  const char* discard_reason_ = "";

  // The metrics label of the upstream's server, for this upstream connection.
  bool peer_known_ = false;
  std::string peer_label_;

  uint64_t requests_ = 0;
  uint64_t retries_ = 0;
  uint64_t seed_;
  RelayStats stats_;

  // Declared last: destroyed first.
  std::unique_ptr<Timer> request_timer_;
  std::unique_ptr<Timer> try_timer_;  // per-try, connect and handshake deadlines
  std::unique_ptr<Timer> idle_timer_;
  std::unique_ptr<Timer> retry_timer_;
  std::unique_ptr<Timer> finish_timer_;
  std::unique_ptr<FileEvent> down_event_;
  std::unique_ptr<FileEvent> up_event_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_HTTP1_FORWARDER_H_
