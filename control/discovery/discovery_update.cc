#include "control/discovery/discovery_update.h"

namespace tether::control {
namespace {

void ToProto(const Endpoint& e, tether::discovery::v1::Endpoint* out) {
  out->set_ip(e.ip);
  out->set_port(e.port);
  for (const std::string& id : e.identities) out->add_identities(id);
  out->set_source(SourceName(e.source));
  out->set_origin(e.origin);
  out->set_unmeshed_endpoints(static_cast<uint32_t>(std::max(0, e.unmeshed_endpoints)));
  for (const Backend& b : e.backends) {
    auto* k = out->add_backends();
    k->set_ip(b.ip);
    k->set_port(b.port);
  }
  out->set_protocol(ProtocolName(e.protocol));
}

}  // namespace

tether::discovery::v1::DiscoveryUpdate FullUpdate(const EndpointSnapshot& to) {
  tether::discovery::v1::DiscoveryUpdate u;
  u.set_version(to.version);
  u.set_full(true);
  for (const Endpoint& e : to.endpoints) ToProto(e, u.add_endpoints());
  return u;
}

tether::discovery::v1::DiscoveryUpdate DeltaUpdate(const EndpointSnapshot& from,
                                                   const EndpointSnapshot& to) {
  tether::discovery::v1::DiscoveryUpdate u;
  u.set_version(to.version);
  u.set_full(false);
  // Both are sorted by key: one merge pass.
  auto a = from.endpoints.begin();
  auto b = to.endpoints.begin();
  while (a != from.endpoints.end() || b != to.endpoints.end()) {
    if (b == to.endpoints.end() || (a != from.endpoints.end() && a->Key() < b->Key())) {
      auto* k = u.add_removed();
      k->set_ip(a->ip);
      k->set_port(a->port);
      ++a;
    } else if (a == from.endpoints.end() || b->Key() < a->Key()) {
      ToProto(*b++, u.add_endpoints());
    } else {
      if (!(*a == *b)) ToProto(*b, u.add_endpoints());
      ++a;
      ++b;
    }
  }
  return u;
}

}  // namespace tether::control
