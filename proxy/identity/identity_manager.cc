#include "proxy/identity/identity_manager.h"

#include <algorithm>

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "proxy/tls/revocation.h"

namespace tether::proxy {
namespace {

using tether::ca::v1::StreamRequest;
using tether::ca::v1::StreamResponse;

// A request with no answer after this long is sent again.
constexpr absl::Duration kRequestTimeout = absl::Seconds(30);
// The manager re-checks its timers at least this often, so a clock jump
// (suspend/resume) is noticed promptly.
constexpr absl::Duration kMaxWait = absl::Seconds(1);

double Random01() {
  uint32_t r;
  RAND_bytes(reinterpret_cast<uint8_t*>(&r), sizeof(r));
  return r / 4294967296.0;
}

pki::TrustBundle CopyBundle(const pki::TrustBundle& bundle) {
  return *pki::TrustBundle::FromCerts(pki::CopyChain(bundle.roots()));
}

}  // namespace

IdentityManager::IdentityManager(IdentityOptions options, CaConnector* connector,
                                 const Clock* clock)
    : options_(std::move(options)), connector_(connector), clock_(clock) {
  status_.stream_state = "stopped";
}

IdentityManager::~IdentityManager() { Stop(); }

absl::Status IdentityManager::Start() {
  auto bundle = pki::TrustBundle::FromPem(options_.initial_bundle_pem);
  if (!bundle.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the CA bundle (--ca-bundle) is unusable: ", bundle.status().message()));
  }
  bundle_ = std::move(*bundle);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void IdentityManager::Stop() {
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void IdentityManager::Wake() {
  MutexLock lock(&mu_);
  woken_ = true;
  cv_.SignalAll();
}

void IdentityManager::SetOnChange(std::function<void(const IdentitySnapshot&)> callback) {
  MutexLock lock(&mu_);
  on_change_ = std::move(callback);
}

void IdentityManager::SetOnPolicy(
    std::function<void(const tether::policy::v1::PolicySnapshot&)> callback) {
  MutexLock lock(&mu_);
  on_policy_ = std::move(callback);
}

void IdentityManager::SetOnDiscovery(
    std::function<void(const tether::discovery::v1::DiscoveryUpdate&)> callback) {
  MutexLock lock(&mu_);
  on_discovery_ = std::move(callback);
}

void IdentityManager::SetOnRevocations(std::function<void(const RevocationUpdate&)> callback) {
  MutexLock lock(&mu_);
  on_revocations_ = std::move(callback);
}

IdentityStatus IdentityManager::status() const {
  MutexLock lock(&mu_);
  return status_;
}

absl::Duration IdentityManager::Backoff() {
  absl::Duration d = options_.min_backoff;
  for (int i = 1; i < failures_in_a_row_ && d < options_.max_backoff; ++i) d *= 2;
  d = std::min(d, options_.max_backoff);
  return d * (0.8 + 0.4 * Random01());
}

std::string IdentityManager::RootsPem() const {
  return bundle_.roots().empty() ? options_.initial_bundle_pem : bundle_.ToPem();
}

void IdentityManager::Fail(const std::string& error) {
  ++failures_in_a_row_;
  MutexLock lock(&mu_);
  status_.last_error = error;
  status_.last_error_time = clock_->Now();
}

void IdentityManager::Run() {
  while (true) {
    std::deque<Event> events;
    {
      MutexLock lock(&mu_);
      const absl::Time now = clock_->Now();
      absl::Time deadline = absl::InfiniteFuture();
      if (!stream_) deadline = std::min(deadline, reconnect_at_);
      if (stream_ && !welcomed_) deadline = std::min(deadline, hello_deadline_);
      if (stream_ && welcomed_) deadline = std::min(deadline, renew_at_);
      absl::Duration wait = std::clamp(deadline - now, absl::ZeroDuration(), kMaxWait);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || woken_ || !events_.empty();
      };
      if (!ready()) cv_.WaitWithTimeout(&mu_, wait);
      woken_ = false;
      if (stopping_) break;
      events.swap(events_);
    }
    for (const Event& e : events) {
      if (e.stream_generation != generation_ || !stream_) continue;
      if (e.message) {
        Handle(*e.message);
      } else {
        absl::Status st = stream_->Finish();
        bool cert_refused = welcomed_identity_.empty() ? false : !welcomed_;
        Disconnect("");
        std::string why =
            absl::StrCat("control plane stream ended: ", absl::StatusCodeToString(st.code()), ": ",
                         st.message());
        if (cert_refused && (absl::IsUnauthenticated(st) || absl::IsPermissionDenied(st))) {
          force_bootstrap_ = true;
        }
        Fail(why);
        reconnect_at_ = clock_->Now() + Backoff();
      }
    }
    const absl::Time now = clock_->Now();
    if (!stream_ && now >= reconnect_at_) Connect();
    if (stream_ && !welcomed_ && now >= hello_deadline_) {
      Disconnect("");
      Fail(absl::StrCat("the control plane did not answer within ",
                        absl::FormatDuration(options_.hello_timeout)));
      reconnect_at_ = clock_->Now() + Backoff();
    }
    if (stream_ && welcomed_) {
      if (pending_request_id_ != 0 && now - pending_since_ >= kRequestTimeout) {
        pending_request_id_ = 0;
      }
      if (pending_request_id_ == 0 && now >= renew_at_) SendCsr();
    }
  }
  Disconnect("");
  MutexLock lock(&mu_);
  status_.stream_state = "stopped";
}

void IdentityManager::Connect() {
  std::shared_ptr<const IdentitySnapshot> cur = Current();
  std::optional<ClientCredential> cred;
  StreamRequest hello;
  hello.mutable_hello()->set_workload_name(options_.workload_name);
  hello.mutable_hello()->set_proxy_version(options_.proxy_version);
  // A revoked certificate is withdrawn when its revocation arrives (so `cur`
  // is null then); checked here too so that it can never authenticate a
  // stream, whatever the order of events.
  const bool revoked = cur && CheckRevoked(revocations_, cur->serial_hex,
                                           cur->spiffe_id.ToString()) != RevokedBy::kNone;
  if (cur && clock_->Now() < cur->not_after && !force_bootstrap_ && !revoked) {
    cred = ClientCredential{pki::PrivateKeyToPem(cur->key.get()), pki::ChainToPem(cur->chain)};
  } else if (absl::Status st = LoadBootstrap(options_.bootstrap, hello.mutable_hello()); !st.ok()) {
    Fail(std::string(st.message()));
    reconnect_at_ = clock_->Now() + Backoff();
    MutexLock lock(&mu_);
    status_.stream_state = "backoff";
    return;
  }
  stream_ = connector_->Open(RootsPem(), cred);
  ++generation_;
  welcomed_ = false;
  hello_deadline_ = clock_->Now() + options_.hello_timeout;
  CaStream* stream = stream_.get();
  const uint64_t gen = generation_;
  reader_ = std::thread([this, stream, gen] {
    while (true) {
      StreamResponse msg;
      bool ok = stream->Read(&msg);
      MutexLock lock(&mu_);
      events_.push_back(
          Event{ok ? std::optional<StreamResponse>(std::move(msg)) : std::nullopt, gen});
      cv_.SignalAll();
      if (!ok) return;
    }
  });
  stream_->Write(hello);  // a failure shows up as the end of the stream
  MutexLock lock(&mu_);
  status_.stream_state = "connecting";
}

void IdentityManager::Disconnect(const std::string&) {
  if (!stream_) return;
  stream_->TryCancel();
  if (reader_.joinable()) reader_.join();
  stream_.reset();
  welcomed_ = false;
  pending_request_id_ = 0;
  pending_key_.reset();
  MutexLock lock(&mu_);
  ++status_.stream_failures;
  status_.stream_state = "backoff";
  status_.connected_since = absl::InfinitePast();
}

void IdentityManager::Handle(const StreamResponse& msg) {
  const absl::Time now = clock_->Now();
  switch (msg.kind_case()) {
    case StreamResponse::kWelcome: {
      welcomed_ = true;
      failures_in_a_row_ = 0;
      force_bootstrap_ = false;
      welcomed_identity_ = msg.welcome().spiffe_id();
      std::shared_ptr<const IdentitySnapshot> cur = Current();
      if (!cur || cur->spiffe_id.ToString() != welcomed_identity_ || now >= cur->not_after) {
        renew_at_ = now;
      }
      MutexLock lock(&mu_);
      status_.stream_state = "connected";
      status_.connected_since = now;
      break;
    }
    case StreamResponse::kTrustBundle: {
      pki::CertChain roots;
      for (const auto& der : msg.trust_bundle().roots_der()) {
        auto cert = pki::CertFromDer(der);
        if (cert.ok()) roots.push_back(std::move(*cert));
      }
      auto bundle = pki::TrustBundle::FromCerts(std::move(roots));
      if (!bundle.ok()) {
        Fail(absl::StrCat("ignored an unusable trust bundle: ", bundle.status().message()));
        break;
      }
      bundle_ = std::move(*bundle);
      if (auto cur = Current()) {
        auto snap = cur->WithTrust(CopyBundle(bundle_), revocations_);
        if (snap.ok()) Publish(*snap);
      }
      MutexLock lock(&mu_);
      status_.bundle_version = msg.trust_bundle().version();
      break;
    }
    case StreamResponse::kRevocations: {
      {
        // Replicas of the control plane share one list whose version only
        // grows: an older one (from a replica that has not caught up) would
        // forget revocations, so it is ignored.
        MutexLock lock(&mu_);
        if (msg.revocations().version() < status_.revocations_version) {
          ++status_.revocations_ignored;
          break;
        }
      }
      pki::Revocations r;
      for (const auto& s : msg.revocations().serials()) r.serials.insert(s);
      for (const auto& s : msg.revocations().spiffe_ids()) r.spiffe_ids.insert(s);
      revocations_ = std::move(r);
      const uint64_t version = msg.revocations().version();
      RevocationUpdate update;
      update.own_certificate_revoked = ApplyRevocations(version);
      update.revocations = std::make_shared<const pki::Revocations>(revocations_);
      update.version = version;
      std::function<void(const RevocationUpdate&)> cb;
      {
        MutexLock lock(&mu_);
        status_.revocations_version = version;
        cb = on_revocations_;
      }
      if (cb) cb(update);
      break;
    }
    case StreamResponse::kCertificate: {
      const auto& c = msg.certificate();
      if (c.request_id() != pending_request_id_ || !pending_key_) break;  // stale answer
      pki::CertChain chain;
      for (const auto& der : c.chain_der()) {
        auto cert = pki::CertFromDer(der);
        if (!cert.ok()) break;
        chain.push_back(std::move(*cert));
      }
      pending_request_id_ = 0;
      auto snap = IdentitySnapshot::Build(std::move(pending_key_), std::move(chain),
                                          CopyBundle(bundle_), revocations_);
      if (!snap.ok()) {
        Fail(absl::StrCat("the CA sent an unusable certificate: ", snap.status().message()));
        renew_at_ = now + Backoff();
        break;
      }
      if (RevokedBy by =
              CheckRevoked(revocations_, (*snap)->serial_hex, (*snap)->spiffe_id.ToString());
          by != RevokedBy::kNone) {
        // Never presented: the identity itself is revoked (or the answer
        // crossed the revocation of its serial).
        Fail(absl::StrCat(
            "the CA sent a revoked certificate: ",
            DescribeRevoked("the", by, (*snap)->serial_hex, (*snap)->spiffe_id.ToString())));
        renew_at_ = now + Backoff();
        break;
      }
      Publish(*snap);
      {
        MutexLock lock(&mu_);
        status_.revoked_serial.clear();
        status_.revoked_reason.clear();
      }
      absl::Time renew = absl::FromUnixSeconds(c.renew_after_unix());
      const absl::Time not_after = (*snap)->not_after;
      if (renew <= now || renew >= not_after) {
        renew = now + (not_after - now) * (0.5 + 0.1 * Random01());
      }
      renew_at_ = renew;
      MutexLock lock(&mu_);
      ++status_.certificates_received;
      break;
    }
    case StreamResponse::kRejected: {
      const auto& r = msg.rejected();
      if (r.request_id() != pending_request_id_) break;
      pending_request_id_ = 0;
      pending_key_.reset();
      Fail(absl::StrCat("certificate request rejected (", r.reason(), "): ", r.message()));
      renew_at_ = now + Backoff();
      break;
    }
    case StreamResponse::kPolicy: {
      std::function<void(const tether::policy::v1::PolicySnapshot&)> cb;
      {
        MutexLock lock(&mu_);
        cb = on_policy_;
      }
      if (cb) cb(msg.policy());
      break;
    }
    case StreamResponse::kDiscovery: {
      std::function<void(const tether::discovery::v1::DiscoveryUpdate&)> cb;
      {
        MutexLock lock(&mu_);
        cb = on_discovery_;
      }
      if (cb) cb(msg.discovery());
      break;
    }
    default:
      break;
  }
}

void IdentityManager::SendCsr() {
  auto id = pki::SpiffeId::Parse(welcomed_identity_);
  auto key = pki::GenerateP256Key();
  if (!id.ok() || !key.ok()) {
    Fail("cannot make a certificate request");
    renew_at_ = clock_->Now() + Backoff();
    return;
  }
  auto csr = pki::CreateCsr(key->get(), *id);
  if (!csr.ok()) {
    Fail(absl::StrCat("cannot make a certificate request: ", csr.status().message()));
    renew_at_ = clock_->Now() + Backoff();
    return;
  }
  StreamRequest req;
  pending_request_id_ = next_request_id_++;
  req.mutable_certificate_request()->set_request_id(pending_request_id_);
  req.mutable_certificate_request()->set_csr_der(*csr);
  req.mutable_certificate_request()->set_ttl_seconds(absl::ToInt64Seconds(options_.ttl));
  pending_key_ = std::move(*key);
  pending_since_ = clock_->Now();
  stream_->Write(req);
}

bool IdentityManager::ApplyRevocations(uint64_t version) {
  std::shared_ptr<const IdentitySnapshot> cur = Current();
  if (cur == nullptr) return false;
  const std::string id = cur->spiffe_id.ToString();
  const RevokedBy by = CheckRevoked(revocations_, cur->serial_hex, id);
  if (by == RevokedBy::kNone) {
    auto snap = cur->WithTrust(CopyBundle(bundle_), revocations_);
    if (snap.ok()) Publish(*snap);
    return false;
  }
  // Withdraw it before anything else: from the next connection on, workers
  // find no certificate rather than present a revoked one.
  current_.Store(nullptr);
  // Renew now, on the stream there is: a request still pending was made
  // before the revocation and is dropped (a late answer is stale).
  pending_request_id_ = 0;
  pending_key_.reset();
  renew_at_ = clock_->Now();
  std::string reason = absl::StrCat(
      DescribeRevoked("this proxy's", by, cur->serial_hex, id), " at revocations version ", version,
      "; it is no longer presented and a new certificate was requested");
  MutexLock lock(&mu_);
  status_.revoked_serial = cur->serial_hex;
  status_.revoked_reason = reason;
  status_.last_error = std::move(reason);
  status_.last_error_time = clock_->Now();
  return true;
}

void IdentityManager::Publish(std::shared_ptr<const IdentitySnapshot> snap) {
  current_.Store(snap);
  std::function<void(const IdentitySnapshot&)> cb;
  {
    MutexLock lock(&mu_);
    cb = on_change_;
  }
  if (cb) cb(*snap);
}

}  // namespace tether::proxy
