// StreamService: the CertificateService gRPC stream (api/tether/ca/v1), one
// callback reactor per connected proxy.
//
//   StreamService service(&ca, store, registry, tokens, /*kubernetes=*/nullptr, audit, clock);
//   builder.RegisterService(&service);
//   store->SetOnChange([&] { service.BroadcastTrustBundle(); });
//
// A stream authenticates with its first message (Hello): a join token, a
// Kubernetes token, or, with neither, the TLS client certificate (which
// gRPC requests but does not verify: VerifyChain does, against the current
// bundle, revocations and this service's clock). The identity of a stream
// never changes; every CSR on it must ask for that identity.
//
// Join tokens and certificates are checked on gRPC's callback thread: a
// certificate takes microseconds, a join token one rewrite of the token file
// (milliseconds; it grows with the number of outstanding tokens). A
// Kubernetes token needs a TokenReview call, which blocks for up to seconds,
// so it runs on a small pool of worker threads owned by the service; the stream resumes (Welcome,
// pushes, the next read) from the worker. When the pool's queue is full the stream is finished with
// UNAVAILABLE "control plane busy, retry". A stream that sends no first
// message within `hello_timeout` (real time, as gRPC deadlines) is finished
// with DEADLINE_EXCEEDED, so idle unauthenticated streams cannot pile up.
//
// Bounds (stream_limits.h): streams in total, per identity, and waiting to
// authenticate (in total and per peer address), and Hellos per peer address;
// a stream over one is finished with RESOURCE_EXHAUSTED saying which. Each
// stream queues at most `max_queued_answers` answers / `max_queued_answer_bytes`
// for a proxy that does not read them; one more finishes the stream with
// RESOURCE_EXHAUSTED and drops what waits (but the answer gRPC is writing).
//
// A stream's authority ends with its credential: CheckCredentials (the
// control plane's maintenance calls it every second, on the injected clock)
// closes with UNAUTHENTICATED every stream whose join token, Kubernetes
// token ("exp") or renewal certificate (notAfter) has expired, and has the
// token of each Kubernetes stream reviewed again every
// `token_rereview_interval`: a review that now refuses it closes the stream
// the same way, one that fails (the API server unreachable) keeps it. A CSR
// on a stream whose credential has expired is never signed. Closings are
// audited (stream_closed_expired, stream_closed_withdrawn) and counted by the
// reject observer as "unauthenticated"; the proxy reconnects with its
// current certificate.
#ifndef TETHER_CONTROL_CA_STREAM_SERVICE_H_
#define TETHER_CONTROL_CA_STREAM_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "api/tether/ca/v1/ca.grpc.pb.h"
#include "common/clock.h"
#include "common/sync/mutex.h"
#include "control/ca/authenticator.h"
#include "control/ca/authority.h"
#include "control/ca/ca_store.h"
#include "control/ca/join_tokens.h"
#include "control/ca/registry.h"
#include "control/ca/rejection_audit.h"
#include "control/ca/stream_limits.h"
#include "control/ca/worker_pool.h"
#include "control/discovery/endpoint_registry.h"
#include "control/policy/policy_store.h"

namespace tether::control {

struct StreamServiceOptions {
  // A stream whose first message has not arrived after this long is finished
  // with DEADLINE_EXCEEDED.
  absl::Duration hello_timeout = absl::Seconds(10);
  // Threads that run Kubernetes authentication (TokenReview calls), and how
  // many Hellos may wait for one of them before streams are refused with
  // UNAVAILABLE. Used only with a Kubernetes authenticator.
  int kubernetes_workers = 4;
  size_t kubernetes_queue = 128;
  // The same for join-token redemptions, which wait for a disk sync (shared
  // by the redemptions in flight, so more workers mean fewer syncs). A pool
  // of their own: a slow Kubernetes API does not hold up joining VMs.
  int join_token_workers = 4;
  size_t join_token_queue = 4096;
  StreamLimitsOptions limits;
  // Answers (certificates, rejections, pushes) one stream may hold for a
  // proxy that does not read them. A single answer larger than the byte
  // bound is still sent when nothing else waits (a full discovery update of
  // a large mesh).
  size_t max_queued_answers = 64;
  size_t max_queued_answer_bytes = size_t{4} << 20;
  // How often the token of a Kubernetes-authenticated stream is reviewed
  // again (past the TokenReview cache), so that a token withdrawn before its
  // expiry (its pod deleted) ends the stream within about this long.
  absl::Duration token_rereview_interval = absl::Minutes(5);
};

struct WorkloadInfo {
  std::string spiffe_id;
  std::string workload_name;
  std::string proxy_version;
  std::string peer;
  absl::Time connected_since;
  std::string serial_hex;
  absl::Time not_after;
  std::string authenticated_by;
};

class CertStream;

class StreamService final : public tether::ca::v1::CertificateService::CallbackService {
 public:
  // `kubernetes` (may be null: Kubernetes tokens are refused) must outlive
  // the service.
  StreamService(CertificateAuthority* ca, CaStore* store, CertificateRegistry* registry,
                JoinTokens* tokens, Authenticator* kubernetes, AuditLog* audit, const Clock* clock,
                StreamServiceOptions options = {});
  // Calls Stop.
  ~StreamService() override;

  // Stop waits for every stream to be done and for the Kubernetes
  // authentications in progress, then stops the Hello watchdog and the
  // worker pool: afterwards nothing of the service runs. Call it after the
  // gRPC server's Shutdown (which ends the streams). Idempotent.
  void Stop();

  grpc::ServerBidiReactor<tether::ca::v1::StreamRequest, tether::ca::v1::StreamResponse>* Stream(
      grpc::CallbackServerContext* context) override;

  // CheckCredentials closes the streams whose credential has expired and
  // queues the re-reviews that are due (see above). Thread-safe; each call
  // visits every stream.
  void CheckCredentials();

  // Push the current bundle / revocation list to every authenticated stream.
  void BroadcastTrustBundle();
  void BroadcastRevocations();
  // SetPolicies makes every stream carry its workload's authorization policy
  // from `policies` (must outlive the service); call before serving.
  void SetPolicies(PolicyStore* policies, bool close_denied_connections);
  // Push the current policy to every authenticated stream that it changed for.
  void BroadcastPolicy();
  // SetEndpoints makes every stream carry the endpoint registry (a full
  // update after Welcome, then deltas), and join-token Hellos bind the
  // token's addresses in it; call before serving.
  void SetEndpoints(EndpointRegistry* endpoints) { endpoints_ = endpoints; }
  // Push what changed in the registry to every authenticated stream.
  void BroadcastDiscovery();

  std::vector<WorkloadInfo> Workloads() const;
  size_t stream_count() const;
  // Kubernetes authentications waiting for a worker (0 without Kubernetes).
  size_t kubernetes_queued() const { return kubernetes_pool_ ? kubernetes_pool_->queued() : 0; }
  // Streams that have not finished authenticating.
  size_t unauthenticated_count() const { return limits_.unauthenticated(); }
  // Bytes of answers queued on all streams now, and the most there ever were.
  int64_t queued_answer_bytes() const { return queued_bytes_.load(std::memory_order_relaxed); }
  int64_t peak_queued_answer_bytes() const {
    return peak_queued_bytes_.load(std::memory_order_relaxed);
  }

  // SetRejectionAudit writes the audit lines of refused streams through
  // `rejections` (rate-limited per peer address; must outlive the service)
  // instead of one line each; call before serving.
  void SetRejectionAudit(RejectionAudit* rejections) { rejections_ = rejections; }
  // SetHelloGate: while `gate` returns an error (UNAVAILABLE: the control
  // plane cannot yet refuse every revoked credential), each Hello is
  // refused with it, and the proxy retries, here or at another replica;
  // call before serving.
  void SetHelloGate(std::function<absl::Status()> gate) { hello_gate_ = std::move(gate); }
  // Observes every stream a limit ended (metrics).
  void SetLimitObserver(std::function<void(StreamLimit)> observer) {
    limit_observer_ = std::move(observer);
  }

  // Observes stream opens (+1) and closes (-1), for metrics.
  void SetStreamObserver(std::function<void(int delta)> observer) {
    stream_observer_ = std::move(observer);
  }
  // Observes streams refused at authentication, by the lowercase name of
  // the status code: "unauthenticated", "permission_denied" (revoked),
  // "unavailable" (busy, the Kubernetes API unreachable, the token file
  // unwritable), "deadline_exceeded" (no Hello in time) or "internal".
  void SetRejectObserver(std::function<void(absl::string_view reason)> observer) {
    reject_observer_ = std::move(observer);
  }

 private:
  friend class CertStream;
  std::function<absl::Status()> hello_gate_;
  // Register adds `stream` and starts its Hello timeout.
  void Register(CertStream* stream);
  void Unregister(CertStream* stream);
  // WatchHelloDeadlines finishes streams that sent nothing in time; it runs
  // on its own thread until the service is destroyed.
  void WatchHelloDeadlines();
  // AddQueuedBytes keeps queued_answer_bytes (and its peak) up to date.
  void AddQueuedBytes(int64_t delta);

  struct HelloDeadline {
    absl::Time deadline;
    CertStream* stream;
    uint64_t sequence;  // tells a stream from a later one at the same address
  };

  CertificateAuthority* const ca_;
  CaStore* const store_;
  CertificateRegistry* const registry_;
  JoinTokens* const tokens_;
  Authenticator* const kubernetes_;
  AuditLog* const audit_;
  const Clock* const clock_;
  const StreamServiceOptions options_;
  PolicyStore* policies_ = nullptr;
  bool close_denied_connections_ = false;
  EndpointRegistry* endpoints_ = nullptr;
  std::function<void(int)> stream_observer_;
  std::function<void(absl::string_view)> reject_observer_;
  std::function<void(StreamLimit)> limit_observer_;
  RejectionAudit* rejections_ = nullptr;
  StreamLimits limits_;
  std::atomic<int64_t> queued_bytes_{0};
  std::atomic<int64_t> peak_queued_bytes_{0};

  mutable Mutex mu_;
  CondVar all_done_;
  // Every stream not yet done, with its sequence number.
  absl::flat_hash_map<CertStream*, uint64_t> streams_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // In order of deadline: every stream gets the same timeout.
  std::deque<HelloDeadline> hello_deadlines_ ABSL_GUARDED_BY(mu_);
  CondVar hello_deadlines_changed_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Mutex stop_mu_;  // serializes Stop
  std::thread hello_watchdog_;
  const std::unique_ptr<WorkerPool> join_token_pool_;
  std::unique_ptr<WorkerPool> kubernetes_pool_;  // null without Kubernetes
};

// TrustBundleMessage / RevocationMessage build the pushed messages.
tether::ca::v1::TrustBundle TrustBundleMessage(const CaSnapshot& ca);
tether::ca::v1::RevocationList RevocationMessage(const RevocationSnapshot& revocations);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_STREAM_SERVICE_H_
