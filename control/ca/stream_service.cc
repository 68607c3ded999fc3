#include "control/ca/stream_service.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "common/pki/certs.h"
#include "control/ca/cert_stream.h"

namespace tether::control {

using tether::ca::v1::StreamRequest;
using tether::ca::v1::StreamResponse;

tether::ca::v1::TrustBundle TrustBundleMessage(const CaSnapshot& ca) {
  tether::ca::v1::TrustBundle msg;
  msg.set_trust_domain(ca.trust_domain);
  for (const auto& root : ca.bundle.roots()) msg.add_roots_der(pki::CertToDer(root.get()));
  msg.set_version(ca.version);
  return msg;
}

tether::ca::v1::RevocationList RevocationMessage(const RevocationSnapshot& revocations) {
  tether::ca::v1::RevocationList msg;
  std::vector<std::string> serials(revocations.revoked.serials.begin(),
                                   revocations.revoked.serials.end());
  std::vector<std::string> ids(revocations.revoked.spiffe_ids.begin(),
                               revocations.revoked.spiffe_ids.end());
  std::sort(serials.begin(), serials.end());
  std::sort(ids.begin(), ids.end());
  for (auto& s : serials) msg.add_serials(std::move(s));
  for (auto& s : ids) msg.add_spiffe_ids(std::move(s));
  msg.set_version(revocations.version);
  return msg;
}

StreamService::StreamService(CertificateAuthority* ca, CaStore* store,
                             CertificateRegistry* registry, JoinTokens* tokens,
                             Authenticator* kubernetes, AuditLog* audit, const Clock* clock,
                             StreamServiceOptions options)
    : ca_(ca),
      store_(store),
      registry_(registry),
      tokens_(tokens),
      kubernetes_(kubernetes),
      audit_(audit),
      clock_(clock),
      options_(options),
      limits_(clock, options.limits),
      join_token_pool_(
          std::make_unique<WorkerPool>(options_.join_token_workers, options_.join_token_queue)) {
  if (kubernetes_ != nullptr) {
    kubernetes_pool_ =
        std::make_unique<WorkerPool>(options_.kubernetes_workers, options_.kubernetes_queue);
  }
  hello_watchdog_ = std::thread([this] { WatchHelloDeadlines(); });
}

StreamService::~StreamService() { Stop(); }

void StreamService::Stop() {
  MutexLock stop_lock(&stop_mu_);
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    while (!streams_.empty()) all_done_.Wait(&mu_);
    stopping_ = true;
    hello_deadlines_changed_.SignalAll();
  }
  hello_watchdog_.join();
  // A worker may still be letting go of a stream that is done.
  join_token_pool_->Stop();
  if (kubernetes_pool_) kubernetes_pool_->Stop();
}

grpc::ServerBidiReactor<StreamRequest, StreamResponse>* StreamService::Stream(
    grpc::CallbackServerContext* context) {
  return new CertStream(this, context);
}

void StreamService::Register(CertStream* stream) {
  {
    MutexLock lock(&mu_);
    const uint64_t sequence = ++next_sequence_;
    streams_[stream] = sequence;
    hello_deadlines_.push_back({absl::Now() + options_.hello_timeout, stream, sequence});
    if (hello_deadlines_.size() == 1) hello_deadlines_changed_.Signal();
  }
  if (stream_observer_) stream_observer_(+1);
}

void StreamService::AddQueuedBytes(int64_t delta) {
  const int64_t now = queued_bytes_.fetch_add(delta, std::memory_order_relaxed) + delta;
  int64_t peak = peak_queued_bytes_.load(std::memory_order_relaxed);
  while (now > peak && !peak_queued_bytes_.compare_exchange_weak(peak, now)) {
  }
}

void StreamService::Unregister(CertStream* stream) {
  {
    MutexLock lock(&mu_);
    streams_.erase(stream);
    if (streams_.empty()) all_done_.SignalAll();
  }
  if (stream_observer_) stream_observer_(-1);
}

void StreamService::WatchHelloDeadlines() {
  mu_.Lock();
  while (!stopping_) {
    if (hello_deadlines_.empty()) {
      hello_deadlines_changed_.Wait(&mu_);
      continue;
    }
    const HelloDeadline next = hello_deadlines_.front();
    if (absl::Now() < next.deadline) {
      hello_deadlines_changed_.WaitWithDeadline(&mu_, next.deadline);
      continue;
    }
    hello_deadlines_.pop_front();
    auto it = streams_.find(next.stream);
    if (it == streams_.end() || it->second != next.sequence) continue;  // done already
    next.stream->Ref();  // registered, so not done: OnDone's Unregister needs mu_
    mu_.Unlock();
    next.stream->ExpireHello(options_.hello_timeout);
    next.stream->Unref();
    mu_.Lock();
  }
  mu_.Unlock();
}

void StreamService::CheckCredentials() {
  std::vector<CertStream*> streams;
  {
    MutexLock lock(&mu_);
    streams.reserve(streams_.size());
    for (const auto& entry : streams_) {
      entry.first->Ref();  // registered, so not done
      streams.push_back(entry.first);
    }
  }
  // Outside mu_: closing a stream may run OnDone, whose Unregister takes it.
  const absl::Time now = clock_->Now();
  for (CertStream* stream : streams) {
    stream->CheckCredential(now);
    stream->Unref();
  }
}

void StreamService::BroadcastTrustBundle() {
  std::shared_ptr<const CaSnapshot> ca = store_->Current();
  MutexLock lock(&mu_);
  for (const auto& entry : streams_) entry.first->PushTrustBundle(*ca);
}

void StreamService::SetPolicies(PolicyStore* policies, bool close_denied_connections) {
  policies_ = policies;
  close_denied_connections_ = close_denied_connections;
}

void StreamService::BroadcastPolicy() {
  if (policies_ == nullptr) return;
  std::shared_ptr<const PolicyState> state = policies_->Current();
  MutexLock lock(&mu_);
  for (const auto& entry : streams_) entry.first->PushPolicy(*state, close_denied_connections_);
}

void StreamService::BroadcastDiscovery() {
  if (endpoints_ == nullptr) return;
  std::shared_ptr<const EndpointSnapshot> snap = endpoints_->Current();
  MutexLock lock(&mu_);
  for (const auto& entry : streams_) entry.first->PushDiscovery(snap);
}

void StreamService::BroadcastRevocations() {
  std::shared_ptr<const RevocationSnapshot> rev = registry_->Revocations();
  MutexLock lock(&mu_);
  for (const auto& entry : streams_) entry.first->PushRevocations(*rev);
}

std::vector<WorkloadInfo> StreamService::Workloads() const {
  std::vector<WorkloadInfo> out;
  MutexLock lock(&mu_);
  for (const auto& entry : streams_) {
    if (entry.first->authenticated()) out.push_back(entry.first->info());
  }
  std::sort(out.begin(), out.end(),
            [](const WorkloadInfo& a, const WorkloadInfo& b) { return a.spiffe_id < b.spiffe_id; });
  return out;
}

size_t StreamService::stream_count() const {
  MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace tether::control
