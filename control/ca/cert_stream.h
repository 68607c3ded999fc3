// CertStream: the reactor of one certificate stream, private to the stream
// service (stream_service.cc creates them; nothing else should).
#ifndef TETHER_CONTROL_CA_CERT_STREAM_H_
#define TETHER_CONTROL_CA_CERT_STREAM_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/tether/ca/v1/ca.grpc.pb.h"
#include "common/pki/spiffe_id.h"
#include "common/sync/mutex.h"
#include "control/ca/authenticator.h"
#include "control/ca/stream_limits.h"
#include "control/ca/stream_service.h"

namespace tether::control {

// CertStream: one proxy's stream. Writes are queued and issued one at a time;
// Finish waits for the queue to drain.
//
// Lifetime: gRPC calls OnDone once Finish has completed and nothing is
// pending. Finish is called on a reaction (OnReadDone, OnWriteDone), by the
// Hello watchdog, by the credential check (CheckCredential), or by a worker
// that finished a Kubernetes authentication or re-review: the last three are
// not reactions, and gRPC may run OnDone while they still
// are inside the stream. So they hold a reference (Ref/Unref) from before
// they can call Finish until after their last touch, and the stream is
// deleted when OnDone and every holder have let go of it.
class CertStream final : public grpc::ServerBidiReactor<tether::ca::v1::StreamRequest,
                                                        tether::ca::v1::StreamResponse> {
 public:
  CertStream(StreamService* service, grpc::CallbackServerContext* context);

  void OnReadDone(bool ok) override;

  void OnWriteDone(bool ok) override;

  void OnDone() override;

  // Enqueue sends `msg` unless the stream is finishing. Thread-safe.
  void Enqueue(tether::ca::v1::StreamResponse msg);
  // A full queue finishes the stream (OverflowLocked).
  void EnqueueLocked(tether::ca::v1::StreamResponse msg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // PushPolicy sends the part of `state` that selects this stream's workload,
  // unless an equal or newer version went out, the content is what the
  // proxy already has, or the store cannot tell the workload's policy yet
  // (the proxy then keeps the one it has).
  void PushPolicy(const PolicyState& state, bool close_denied);

  // PushDiscovery sends the registry: in full the first time, then what
  // changed since the snapshot this stream last got; nothing while it is
  // incomplete (the proxy keeps what it has, or its safe default).
  void PushDiscovery(std::shared_ptr<const EndpointSnapshot> snap);

  void PushTrustBundle(const CaSnapshot& ca);

  // PushRevocations sends a newer revocation list; then, if it revokes this
  // stream's identity or the certificate the stream authenticated with (a
  // renewal stream), the stream is closed with PERMISSION_DENIED: the
  // workload must attest again with a bootstrap credential rather than renew
  // on the strength of a revoked one. A stream authenticated by a bootstrap
  // credential stays open when a certificate it issued is revoked: that
  // proxy renews on it at once with a new key, while whoever stole the old
  // key cannot renew with it.
  void PushRevocations(const RevocationSnapshot& rev);

  // Ref / Unref keep the stream alive beyond OnDone; the last Unref deletes
  // it. Ref only while the stream is known not to be done (registered with
  // the service, under its lock, or holding another reference).
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();

  // ExpireHello finishes the stream with DEADLINE_EXCEEDED unless its first
  // message has arrived. The caller holds a reference.
  void ExpireHello(absl::Duration timeout);

  // CheckCredential ends the stream's authority with its credential
  // (cert_stream_credential.cc): once `now` is past the credential's expiry
  // (a join token's, a Kubernetes token's "exp", a renewal certificate's
  // notAfter) the stream is closed with UNAUTHENTICATED; a Kubernetes
  // stream whose re-review is due has its token reviewed again on the
  // service's Kubernetes pool (not when the pool is half full: Hellos come
  // first; then the next call tries again). The caller holds a reference.
  void CheckCredential(absl::Time now);

  WorkloadInfo info() const;
  bool authenticated() const;

 private:
  ~CertStream() override = default;

  void PopFrontLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // OverflowLocked ends a stream whose proxy does not read its answers: what
  // waits is dropped (but the answer being written: gRPC holds it until the
  // write completes) and the status is sent at once, behind that answer.
  void OverflowLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // RefuseByLimit records that `limit` refused the stream and finishes it
  // with RESOURCE_EXHAUSTED.
  void RefuseByLimit(StreamLimit limit);

  // RecordRejection audits a refused stream, through the service's
  // rejection audit (rate-limited per peer address) when it has one: a
  // Hello flood would otherwise write a line per Hello.
  void RecordRejection(absl::string_view event, nlohmann::json fields);

  void ReadNext();

  void FinishWith(grpc::Status status);

  // Reject records why the stream was refused and finishes it with `status`.
  // `method` is how the stream tried to authenticate ("none" before a Hello).
  void Reject(const char* method, const absl::Status& status);

  // HandleHello authenticates the stream with its first message. It returns
  // false when a worker took the authentication over (and will read on).
  bool HandleHello();

  // RedeemJoinToken consumes the token and binds the addresses it was
  // minted with to its identity before the stream is welcomed, so that
  // every proxy can know the workload by the time it holds a certificate.
  absl::StatusOr<Authentication> RedeemJoinToken(const std::string& token);

  // AuthenticateOnWorker queues `authenticate(hello)` (a TokenReview call,
  // or a join-token redemption that waits for a disk sync) on the service's
  // `pool`, off gRPC's callback threads; the worker completes
  // the Hello and reads on. Returns false, having refused the stream as
  // busy, when the queue is full.
  template <typename Authenticate>
  bool AuthenticateOnWorker(WorkerPool* pool, const char* method, const char* kind,
                            const tether::ca::v1::Hello& hello, Authenticate authenticate);

  // AuthenticateKubernetes asks the Kubernetes authenticator about `token`;
  // the credential expires at the token's "exp" (which the API server just
  // verified) when it has one.
  absl::StatusOr<Authentication> AuthenticateKubernetes(const std::string& token);

  // CompleteHello finishes authentication with what `method` proved (`auth`):
  // the stream is refused, or welcomed and sent the current trust bundle and
  // revocations. `kind` names the credential in messages ("join token").
  void CompleteHello(const char* method, absl::StatusOr<Authentication> auth,
                     const tether::ca::v1::Hello& hello, std::string kind);

  void HandleRequest();

  // RevokedCredentialLocked: why `rev` revokes what this stream answers for
  // ("" when it does not).
  std::string RevokedCredentialLocked(const RevocationSnapshot& rev) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CloseRevoked audits and finishes the stream for `why`.
  void CloseRevoked(const std::string& why);
  // CloseExpired closes the stream whose credential expired at `expired`
  // (audited as stream_closed_expired).
  void CloseExpired(absl::Time expired);
  // CompleteReview applies a re-review of the stream's Kubernetes token (on
  // a worker): Unauthenticated closes the stream (stream_closed_withdrawn);
  // any other error keeps it (audited token_rereview_failed) until the next
  // review.
  void CompleteReview(absl::StatusOr<Authentication> review);
  // CloseWith audits `event` with `fields`, the stream's identity and peer,
  // counts the closing by the code of `status` (as refusals are) and
  // finishes the stream with it; nothing when the stream is finishing.
  void CloseWith(const char* event, nlohmann::json fields, const absl::Status& status);

  StreamService* const service_;
  grpc::CallbackServerContext* const context_;
  const std::string peer_;
  tether::ca::v1::StreamRequest request_;  // owned by the read in flight
  // One for gRPC (until OnDone), one per Kubernetes authentication queued or
  // running.
  std::atomic<int> refs_{1};

  struct QueuedAnswer {
    tether::ca::v1::StreamResponse msg;
    size_t bytes;
  };

  mutable Mutex mu_;
  // The front is being written (gRPC holds a pointer to it).
  std::deque<QueuedAnswer> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  StreamLimits::Admission admission_ ABSL_GUARDED_BY(mu_);
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
  bool hello_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool hello_timed_out_ ABSL_GUARDED_BY(mu_) = false;
  bool authenticated_ ABSL_GUARDED_BY(mu_) = false;
  pki::SpiffeId identity_ ABSL_GUARDED_BY(mu_);
  // The serial of the certificate this stream authenticated with (a renewal
  // stream); empty for a bootstrap credential.
  std::set<std::string> credential_serials_ ABSL_GUARDED_BY(mu_);
  WorkloadInfo info_ ABSL_GUARDED_BY(mu_);
  // What the stream authenticated with ("join token", "certificate S", ...),
  // and when that stops being valid: then the stream's authority ends.
  std::string credential_kind_ ABSL_GUARDED_BY(mu_);
  // The workload instance the stream speaks for, which the CA's per-instance
  // rate limit is keyed by: the pod of a Kubernetes token, a join token's id,
  // a renewal certificate's original bootstrap (from the registry), else the
  // peer's address.
  std::string instance_ ABSL_GUARDED_BY(mu_);
  absl::Time credential_expires_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // A Kubernetes stream's token, kept for its re-reviews (empty otherwise),
  // and when the next one is due.
  std::string kubernetes_token_ ABSL_GUARDED_BY(mu_);
  absl::Time next_review_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool review_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t bundle_version_sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool revocations_sent_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t revocations_version_sent_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const EndpointSnapshot> discovery_sent_ ABSL_GUARDED_BY(mu_);
  bool policy_sent_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t policy_version_sent_ ABSL_GUARDED_BY(mu_) = 0;
  std::string policy_content_sent_ ABSL_GUARDED_BY(mu_);  // without the version
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_CERT_STREAM_H_
