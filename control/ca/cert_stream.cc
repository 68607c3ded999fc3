#include "control/ca/cert_stream.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/pki/certs.h"
#include "common/policy/policy_proto.h"
#include "control/ca/certificate_auth.h"
#include "control/discovery/discovery_update.h"
#include "control/discovery/endpoint_address.h"

namespace tether::control {

using tether::ca::v1::StreamRequest;
using tether::ca::v1::StreamResponse;

namespace {

grpc::Status ToGrpc(const absl::Status& st) {
  const std::string message(st.message());
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), message);
}

// CodeName: how refused and closed streams are counted ("unauthenticated").
std::string CodeName(const absl::Status& st) {
  return absl::AsciiStrToLower(absl::StatusCodeToString(st.code()));
}

}  // namespace

CertStream::CertStream(StreamService* service, grpc::CallbackServerContext* context)
    : service_(service), context_(context), peer_(context->peer()) {
  info_.peer = peer_;
  info_.connected_since = service->clock_->Now();
  // Until Stream() returns, gRPC holds back what a reactor starts (this
  // read, or a Finish from the watchdog) and replays it in order.
  service_->Register(this);
  // The reactions run on gRPC's threads and take mu_: taking it here also
  // orders this constructor's writes before them in a way ThreadSanitizer
  // can see (the hand-off through gRPC's completion queue is invisible to
  // it, Debian's gRPC not being instrumented).
  std::optional<StreamLimit> refused;
  {
    MutexLock lock(&mu_);
    refused = service_->limits_.Open(PeerAddress(peer_), &admission_);
  }
  if (refused) {
    // Nothing is read from a refused stream: its Hello would cost work.
    RefuseByLimit(*refused);
    return;
  }
  StartRead(&request_);
}

void CertStream::OnReadDone(bool ok) {
  if (!ok) {
    // The proxy closed its side (or the call broke): end cleanly.
    FinishWith(grpc::Status::OK);
    return;
  }
  bool authenticated;
  {
    MutexLock lock(&mu_);
    if (hello_timed_out_) return;  // finished by the watchdog
    hello_seen_ = true;
    authenticated = authenticated_;
  }
  if (!authenticated) {
    // False: authentication goes on on a worker, which reads on afterwards.
    if (!HandleHello()) return;
  } else {
    HandleRequest();
  }
  ReadNext();
}

void CertStream::OnWriteDone(bool ok) {
  MutexLock lock(&mu_);
  PopFrontLocked();
  if (!ok) {
    // The peer is gone; drop what is queued and finish.
    while (!queue_.empty()) PopFrontLocked();
    finishing_ = true;
    if (!pending_finish_) {
      pending_finish_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "peer gone");
    }
  }
  if (!queue_.empty()) {
    StartWrite(&queue_.front().msg);
  } else if (pending_finish_ && !finished_) {
    finished_ = true;
    Finish(*pending_finish_);
  }
}

void CertStream::OnDone() {
  // Acquire what the reactions and workers released under mu_ (gRPC orders
  // them before OnDone, but through code ThreadSanitizer cannot see).
  {
    MutexLock lock(&mu_);
    while (!queue_.empty()) PopFrontLocked();
    service_->limits_.Release(&admission_);
  }
  service_->Unregister(this);
  Unref();
}

void CertStream::Enqueue(StreamResponse msg) {
  MutexLock lock(&mu_);
  EnqueueLocked(std::move(msg));
}

void CertStream::EnqueueLocked(StreamResponse msg) {
  if (finishing_) return;
  const size_t bytes = msg.ByteSizeLong();
  if (!queue_.empty() && (queue_.size() >= service_->options_.max_queued_answers ||
                          queued_bytes_ + bytes > service_->options_.max_queued_answer_bytes)) {
    OverflowLocked();
    return;
  }
  queue_.push_back({std::move(msg), bytes});
  queued_bytes_ += bytes;
  service_->AddQueuedBytes(static_cast<int64_t>(bytes));
  if (queue_.size() == 1) StartWrite(&queue_.front().msg);
}

void CertStream::PushPolicy(const PolicyState& state, bool close_denied) {
  pki::SpiffeId id;
  {
    MutexLock lock(&mu_);
    if (!authenticated_ || (policy_sent_ && state.version <= policy_version_sent_)) return;
    id = identity_;
  }
  if (!state.Knows(id.namespace_name)) return;
  StreamResponse msg;
  *msg.mutable_policy() = policy::ToProto(policy::SelectFor(state.set, id));
  msg.mutable_policy()->set_close_denied_connections(close_denied);
  std::string content = msg.policy().SerializeAsString();
  msg.mutable_policy()->set_version(state.version);
  MutexLock lock(&mu_);
  if (policy_sent_ && state.version <= policy_version_sent_) return;
  const bool same = policy_sent_ && content == policy_content_sent_;
  policy_sent_ = true;
  policy_version_sent_ = state.version;
  if (same) return;
  policy_content_sent_ = std::move(content);
  EnqueueLocked(std::move(msg));
}

void CertStream::PushDiscovery(std::shared_ptr<const EndpointSnapshot> snap) {
  MutexLock lock(&mu_);
  if (!authenticated_ || !snap->complete) return;
  if (discovery_sent_ != nullptr && snap->version <= discovery_sent_->version) return;
  StreamResponse msg;
  *msg.mutable_discovery() =
      discovery_sent_ == nullptr ? FullUpdate(*snap) : DeltaUpdate(*discovery_sent_, *snap);
  discovery_sent_ = std::move(snap);
  EnqueueLocked(std::move(msg));
}

void CertStream::PushTrustBundle(const CaSnapshot& ca) {
  {
    MutexLock lock(&mu_);
    if (!authenticated_ || ca.version <= bundle_version_sent_) return;
    bundle_version_sent_ = ca.version;
  }
  StreamResponse msg;
  *msg.mutable_trust_bundle() = TrustBundleMessage(ca);
  Enqueue(std::move(msg));
}

void CertStream::PushRevocations(const RevocationSnapshot& rev) {
  {
    MutexLock lock(&mu_);
    if (!authenticated_ || (revocations_sent_ && rev.version <= revocations_version_sent_)) {
      return;
    }
    revocations_sent_ = true;
    revocations_version_sent_ = rev.version;
  }
  StreamResponse msg;
  *msg.mutable_revocations() = RevocationMessage(rev);
  Enqueue(std::move(msg));  // first, so that the proxy learns why
  std::string why;
  {
    MutexLock lock(&mu_);
    why = RevokedCredentialLocked(rev);
  }
  if (!why.empty()) CloseRevoked(why);
}

std::string CertStream::RevokedCredentialLocked(const RevocationSnapshot& rev) const {
  if (!authenticated_) return "";
  if (rev.revoked.spiffe_ids.contains(identity_.ToString())) {
    return absl::StrCat(identity_.ToString(), " is revoked");
  }
  for (const std::string& serial : credential_serials_) {
    if (rev.revoked.serials.contains(serial)) {
      return absl::StrCat("certificate ", serial, " of ", identity_.ToString(), " is revoked");
    }
  }
  return "";
}

void CertStream::CloseRevoked(const std::string& why) {
  CloseWith("stream_closed_revoked", {{"reason", why}},
            absl::PermissionDeniedError(absl::StrCat(
                why, "; this stream can no longer renew: attest again with a bootstrap credential")));
}

void CertStream::CloseWith(const char* event, nlohmann::json fields, const absl::Status& status) {
  {
    MutexLock lock(&mu_);
    if (finishing_) return;
    fields["spiffe_id"] = identity_.ToString();
  }
  fields["peer"] = peer_;
  service_->audit_->Record(event, std::move(fields));
  if (service_->reject_observer_) service_->reject_observer_(CodeName(status));
  FinishWith(ToGrpc(status));
}

void CertStream::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void CertStream::ExpireHello(absl::Duration timeout) {
  {
    MutexLock lock(&mu_);
    if (hello_seen_ || finishing_) return;
    hello_timed_out_ = true;
  }
  Reject("none", absl::DeadlineExceededError(absl::StrCat(
                     "no Hello within ", absl::FormatDuration(timeout), " of opening the stream")));
}

WorkloadInfo CertStream::info() const {
  MutexLock lock(&mu_);
  return info_;
}

bool CertStream::authenticated() const {
  MutexLock lock(&mu_);
  return authenticated_;
}

void CertStream::PopFrontLocked() {
  queued_bytes_ -= queue_.front().bytes;
  service_->AddQueuedBytes(-static_cast<int64_t>(queue_.front().bytes));
  queue_.pop_front();
}

void CertStream::OverflowLocked() {
  const size_t waiting = queue_.size();
  const size_t bytes = queued_bytes_;
  while (queue_.size() > 1) {
    queued_bytes_ -= queue_.back().bytes;
    service_->AddQueuedBytes(-static_cast<int64_t>(queue_.back().bytes));
    queue_.pop_back();
  }
  finishing_ = true;
  pending_finish_ =
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                   absl::StrCat("the proxy does not read its answers: ", waiting, " (", bytes,
                                " bytes) are waiting, the stream's limit (--max-queued-answers, "
                                "--max-queued-answer-bytes); closing the stream"));
  if (!finished_) {
    finished_ = true;
    Finish(*pending_finish_);
  }
  service_->audit_->Record("stream_refused",
                           {{"limit", std::string(StreamLimitName(StreamLimit::kAnswerQueue))},
                            {"spiffe_id", info_.spiffe_id},
                            {"reason", pending_finish_->error_message()},
                            {"peer", peer_}});
  if (service_->limit_observer_) service_->limit_observer_(StreamLimit::kAnswerQueue);
}

void CertStream::RefuseByLimit(StreamLimit limit) {
  absl::Status status;
  {
    MutexLock lock(&mu_);
    status = service_->limits_.Refusal(limit, admission_);
    service_->limits_.HelloFailed(&admission_);
  }
  const std::string reason(status.message());
  RecordRejection("stream_refused",
                  {{"limit", std::string(StreamLimitName(limit))}, {"reason", reason}});
  if (service_->limit_observer_) service_->limit_observer_(limit);
  FinishWith(ToGrpc(status));
}

void CertStream::RecordRejection(absl::string_view event, nlohmann::json fields) {
  if (service_->rejections_ != nullptr) {
    fields["grpc_peer"] = peer_;
    service_->rejections_->Record("peer", PeerAddress(peer_), event, std::move(fields));
  } else {
    fields["peer"] = peer_;
    service_->audit_->Record(event, std::move(fields));
  }
}

void CertStream::ReadNext() {
  MutexLock lock(&mu_);
  if (!finishing_) StartRead(&request_);
}

void CertStream::FinishWith(grpc::Status status) {
  MutexLock lock(&mu_);
  if (finishing_ && pending_finish_) return;
  finishing_ = true;
  pending_finish_ = std::move(status);
  if (queue_.empty() && !finished_) {
    finished_ = true;
    Finish(*pending_finish_);
  }
}

void CertStream::Reject(const char* method, const absl::Status& status) {
  const std::string reason(status.message());
  {
    MutexLock lock(&mu_);
    service_->limits_.HelloFailed(&admission_);
  }
  RecordRejection("stream_rejected", {{"method", method}, {"reason", reason}});
  if (service_->reject_observer_) service_->reject_observer_(CodeName(status));
  FinishWith(ToGrpc(status));
}

bool CertStream::HandleHello() {
  std::optional<StreamLimit> limited;
  {
    MutexLock lock(&mu_);
    limited = service_->limits_.Hello(admission_);
  }
  if (limited) {
    RefuseByLimit(*limited);
    return true;
  }
  if (!request_.has_hello()) {
    Reject("none", absl::UnauthenticatedError("the first message of a stream must be a Hello"));
    return true;
  }
  if (service_->hello_gate_) {
    if (absl::Status st = service_->hello_gate_(); !st.ok()) {
      Reject("none", st);
      return true;
    }
  }
  const auto& hello = request_.hello();
  switch (hello.credential_case()) {
    case tether::ca::v1::Hello::kJoinToken:
      return !AuthenticateOnWorker(
          service_->join_token_pool_.get(), "join_token", "join token", hello,
          [this](const auto& h) { return RedeemJoinToken(h.join_token()); });
    case tether::ca::v1::Hello::kKubernetesToken:
      if (service_->kubernetes_ == nullptr) {
        CompleteHello("kubernetes",
                      absl::UnauthenticatedError(
                          "this control plane does not accept Kubernetes tokens (not started "
                          "with --kubernetes)"),
                      hello, "");
        return true;
      }
      return !AuthenticateOnWorker(
          service_->kubernetes_pool_.get(), "kubernetes", "Kubernetes token", hello,
          [this](const auto& h) { return AuthenticateKubernetes(h.kubernetes_token()); });
    default: {
      absl::StatusOr<pki::VerifiedPeer> peer =
          AuthenticateByCertificate(context_->auth_context().get(), *service_->store_->Current(),
                                    *service_->registry_->Revocations(), service_->clock_->Now());
      if (!peer.ok()) {
        CompleteHello("certificate", peer.status(), hello, "");
        return true;
      }
      {
        MutexLock lock(&mu_);
        credential_serials_.insert(peer->serial_hex);
      }
      Authentication auth;
      auth.id = peer->spiffe_id;
      auth.expires = peer->not_after;
      // A renewal speaks for the instance that bootstrapped the chain.
      if (std::optional<IssuedRecord> rec = service_->registry_->Find(peer->serial_hex)) {
        auth.instance = rec->instance;
      }
      CompleteHello("certificate", std::move(auth), hello,
                    absl::StrCat("certificate ", peer->serial_hex));
      return true;
    }
  }
}

absl::StatusOr<Authentication> CertStream::RedeemJoinToken(const std::string& token) {
  JoinTokens::Redeemed redeemed;
  absl::StatusOr<pki::SpiffeId> id = service_->tokens_->Redeem(token, &redeemed);
  if (!id.ok()) return id.status();
  Authentication auth;
  auth.id = *id;
  auth.instance = absl::StrCat("join:", redeemed.token_id);
  auth.expires = redeemed.expires;
  const std::vector<std::string>& addresses = redeemed.addresses;
  if (addresses.empty() || service_->endpoints_ == nullptr) return auth;
  std::vector<EndpointAddress> parsed;
  for (const std::string& a : addresses) {
    absl::StatusOr<EndpointAddress> p = ParseEndpointAddress(a);
    if (!p.ok())
      return absl::InternalError(absl::StrCat("stored join token: ", p.status().message()));
    parsed.push_back(*p);
  }
  if (absl::Status st = service_->endpoints_->BindJoinToken(*id, parsed); !st.ok()) return st;
  service_->audit_->Record("endpoints_bound",
                           {{"spiffe_id", id->ToString()}, {"addresses", addresses}});
  return auth;
}

template <typename Authenticate>
bool CertStream::AuthenticateOnWorker(WorkerPool* pool, const char* method, const char* kind,
                                      const tether::ca::v1::Hello& hello,
                                      Authenticate authenticate) {
  Ref();  // not done: this runs in a reaction
  bool queued = pool->TrySubmit([this, method, kind, hello, authenticate]() {
    CompleteHello(method, authenticate(hello), hello, kind);
    ReadNext();
    Unref();
  });
  if (!queued) {
    Reject(method, absl::UnavailableError("control plane busy, retry"));
    Unref();  // the task's reference, unused
  }
  return queued;
}

void CertStream::CompleteHello(const char* method, absl::StatusOr<Authentication> auth,
                               const tether::ca::v1::Hello& hello, std::string kind) {
  absl::StatusOr<pki::SpiffeId> id =
      auth.ok() ? absl::StatusOr<pki::SpiffeId>(auth->id) : auth.status();
  if (id.ok()) {
    auto revoked = service_->registry_->Revocations();
    if (revoked->revoked.spiffe_ids.contains(id->ToString())) {
      id = absl::PermissionDeniedError(absl::StrCat(id->ToString(), " is revoked"));
    }
  }
  if (!id.ok()) {
    Reject(method, id.status());
    return;
  }
  std::optional<StreamLimit> limited;
  {
    MutexLock lock(&mu_);
    limited = service_->limits_.Authenticated(&admission_, id->ToString());
  }
  if (limited) {
    RefuseByLimit(*limited);
    return;
  }
  service_->audit_->Record("stream_authenticated",
                           {{"spiffe_id", id->ToString()}, {"method", method}, {"peer", peer_}});
  StreamResponse welcome;
  welcome.mutable_welcome()->set_spiffe_id(id->ToString());
  welcome.mutable_welcome()->set_server_time_unix_ms(absl::ToUnixMillis(service_->clock_->Now()));
  welcome.mutable_welcome()->set_default_ttl_seconds(
      absl::ToInt64Seconds(service_->ca_->options().default_ttl));
  {
    // Welcome is queued in the same step that lets broadcasts through, so
    // that it is always the stream's first answer.
    MutexLock lock(&mu_);
    authenticated_ = true;
    identity_ = *id;
    info_.spiffe_id = id->ToString();
    info_.workload_name = hello.workload_name().substr(0, 253);
    info_.proxy_version = hello.proxy_version().substr(0, 64);
    info_.authenticated_by = method;
    credential_kind_ = std::move(kind);
    instance_ = auth->instance.empty() ? absl::StrCat("peer:", PeerAddress(peer_)) : auth->instance;
    credential_expires_ = auth->expires;
    if (hello.credential_case() == tether::ca::v1::Hello::kKubernetesToken) {
      kubernetes_token_ = hello.kubernetes_token();
      next_review_ = service_->clock_->Now() + service_->options_.token_rereview_interval;
    }
    if (finishing_) return;
    EnqueueLocked(std::move(welcome));
  }
  PushTrustBundle(*service_->store_->Current());
  PushRevocations(*service_->registry_->Revocations());
  if (service_->policies_ != nullptr) {
    PushPolicy(*service_->policies_->Current(), service_->close_denied_connections_);
  }
  if (service_->endpoints_ != nullptr) PushDiscovery(service_->endpoints_->Current());
}

void CertStream::HandleRequest() {
  if (!request_.has_certificate_request()) {
    FinishWith(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "Hello may only be the first message of a stream"));
    return;
  }
  const auto& req = request_.certificate_request();
  pki::SpiffeId id;
  std::string instance;
  std::string revoked;
  absl::Time expires;
  {
    MutexLock lock(&mu_);
    id = identity_;
    instance = instance_;
    revoked = RevokedCredentialLocked(*service_->registry_->Revocations());
    expires = credential_expires_;
  }
  if (service_->clock_->Now() >= expires) {
    // Before the credential check closed the stream: nothing is signed on
    // the strength of an expired credential.
    CloseExpired(expires);
    return;
  }
  if (!revoked.empty()) {
    // A revocation raced with this CSR: nothing is signed on its strength.
    CloseRevoked(revoked);
    return;
  }
  absl::StatusOr<Issued> issued =
      service_->ca_->Sign(id, instance, req.csr_der(),
                          absl::Seconds(std::max<int64_t>(0, req.ttl_seconds())), peer_);
  StreamResponse msg;
  if (!issued.ok()) {
    auto* rej = msg.mutable_rejected();
    rej->set_request_id(req.request_id());
    rej->set_code(static_cast<int32_t>(issued.status().code()));
    rej->set_reason(CaReasonOf(issued.status()));
    const std::string message(issued.status().message());
    rej->set_message(message);
  } else {
    auto* cert = msg.mutable_certificate();
    cert->set_request_id(req.request_id());
    for (const auto& c : issued->chain) cert->add_chain_der(pki::CertToDer(c.get()));
    cert->set_serial_hex(issued->serial_hex);
    cert->set_not_before_unix(absl::ToUnixSeconds(issued->not_before));
    cert->set_not_after_unix(absl::ToUnixSeconds(issued->not_after));
    cert->set_renew_after_unix(absl::ToUnixSeconds(issued->renew_after));
    MutexLock lock(&mu_);
    info_.serial_hex = issued->serial_hex;
    info_.not_after = issued->not_after;
  }
  Enqueue(std::move(msg));
}

}  // namespace tether::control
