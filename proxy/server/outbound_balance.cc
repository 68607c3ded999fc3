// Outbound load balancing. HTTP/1.1 to a Kubernetes Service port (the
// registry's ClusterIP:port entry, with its backends) is terminated, and
// each request goes to one of the Service's meshed endpoints, chosen by this
// worker's P2cBalancer (peak-EWMA, power of two choices, failure accrual) as
// Linkerd balances. The request's mTLS connection goes to the pod itself,
// whose server must prove that pod's identity; idle connections are pooled
// per endpoint. Without a meshed backend (or with --http-balance=false) the
// requests go to the ClusterIP, which kube-proxy balances per connection.
#include <random>

#include "proxy/server/worker.h"

namespace tether::proxy {

std::shared_ptr<P2cBalancer> Worker::BalancerFor(const Connection& conn, const OutboundPlan& plan) {
  if (!ctx_.config->http_balance || plan.passthrough || plan.table == nullptr ||
      plan.entry == nullptr || plan.entry->backends.empty() || plan.entry->identities.empty()) {
    return nullptr;
  }
  Balanced& b = balancers_[conn.destination.ToString()];
  if (b.lb == nullptr) {
    if (random_state_ == 0) random_state_ = (uint64_t{std::random_device()()} << 32) | 1;
    // An endpoint never measured, or idle long enough, reads as fast (as
    // Finagle's): it is tried at once and measured, so a new replica gets
    // traffic at any load. (Linkerd's 30 ms guess starves it wherever
    // round trips are shorter, until the others' queues are 30 ms deep.)
    P2cBalancer::Options options;
    options.rtt.default_rtt = absl::ZeroDuration();
    b.lb = std::make_shared<P2cBalancer>(*ctx_.clock, options, [this] {
      random_state_ ^= random_state_ << 13;
      random_state_ ^= random_state_ >> 7;
      random_state_ ^= random_state_ << 17;
      return random_state_;
    });
  }
  if (b.version != plan.table->version()) {
    // Only endpoints the registry knows as meshed: a pod outside the mesh
    // speaks plain TCP. (A Service mixing both is balanced over its meshed
    // part; the ClusterIP still reaches all of it.)
    std::vector<SocketAddress> meshed;
    meshed.reserve(plan.entry->backends.size());
    for (const SocketAddress& backend : plan.entry->backends) {
      const EndpointTable::Entry* e = plan.table->Find(backend);
      if (e != nullptr && !e->identities.empty()) meshed.push_back(backend);
    }
    b.lb->SetBackends(meshed);
    b.version = plan.table->version();
  }
  return b.lb->size() > 0 ? b.lb : nullptr;
}

std::vector<pki::SpiffeId> Worker::BackendIdentities(const OutboundPlan& plan,
                                                     const SocketAddress& backend) const {
  const EndpointTable::Entry* e = plan.table != nullptr ? plan.table->Find(backend) : nullptr;
  if (e != nullptr && !e->identities.empty()) return e->identities;
  return plan.allowed;
}

void Worker::SetBalancing(Http1Forwarder::Options& o, Connection* conn,
                          std::shared_ptr<const OutboundPlan> plan) {
  // The forwarder has one attempt open at a time: its pick.
  auto current = std::make_shared<std::optional<P2cBalancer::Pick>>();
  o.pick = [plan, current, conn] {
    *current = plan->balancer->PickBackend();
    return Http1Forwarder::Target{current->has_value() ? (*current)->address : conn->destination};
  };
  o.attempt_done = [plan, current](const Http1Forwarder::Target& target,
                                   Http1Forwarder::AttemptOutcome outcome, absl::Duration latency) {
    if (!current->has_value() || !((*current)->address == target.address)) return;
    P2cBalancer::Outcome done;
    done.latency = latency;
    switch (outcome) {
      case Http1Forwarder::AttemptOutcome::kSuccess:
        done.result = P2cBalancer::Result::kSuccess;
        break;
      case Http1Forwarder::AttemptOutcome::kFailure:
        done.result = P2cBalancer::Result::kFailure;
        break;
      case Http1Forwarder::AttemptOutcome::kUnreachable:
        done.result = P2cBalancer::Result::kUnreachable;
        break;
      case Http1Forwarder::AttemptOutcome::kCancelled:
        done.result = P2cBalancer::Result::kCancelled;
        break;
    }
    plan->balancer->Done(**current, done);
    current->reset();
  };
}

}  // namespace tether::proxy
