// EndpointTable: the proxy's copy of the control plane's endpoint registry,
// immutable, built from the discovery stream (api/tether/discovery/v1), and
// read by every worker for each outbound connection.
//
//   auto next = EndpointTable::Apply(current.get(), update);  // full or delta
//   if (next.ok()) tables.Store(*next);                         // else keep current
//   if (const auto* e = table->Find(conn.destination)) ... e->identities ...
//
// Find looks up ip:port first, then ip (every port). An entry with no
// identities is a known destination outside the mesh.
//
// Apply is strict, because the update is unchecked input: a full update
// replaces everything; a delta needs a base and a higher version; an entry
// with an address or identity that does not parse, or over kMaxEndpoints
// entries, fails the whole update (InvalidArgument, saying which), and the
// caller keeps the table it has.
#ifndef TETHER_PROXY_DISCOVERY_ENDPOINT_TABLE_H_
#define TETHER_PROXY_DISCOVERY_ENDPOINT_TABLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "api/tether/discovery/v1/discovery.pb.h"
#include "common/pki/spiffe_id.h"
#include "proxy/net/socket.h"

namespace tether::proxy {

inline constexpr size_t kMaxEndpoints = 1 << 20;

class EndpointTable {
 public:
  struct Entry {
    std::vector<pki::SpiffeId> identities;  // empty: not meshed
    std::string source;
    std::string origin;
  };

  static absl::StatusOr<std::shared_ptr<const EndpointTable>> Apply(
      const EndpointTable* base, const tether::discovery::v1::DiscoveryUpdate& update);

  // Find: the entry for `destination`, or null when the registry does not
  // know it.
  const Entry* Find(const SocketAddress& destination) const;

  uint64_t version() const { return version_; }
  size_t size() const { return entries_.size(); }
  // Every entry, keyed by (canonical ip, port), for /endpoints.
  const std::map<std::pair<std::string, uint16_t>, Entry>& entries() const { return entries_; }

 private:
  uint64_t version_ = 0;
  std::map<std::pair<std::string, uint16_t>, Entry> entries_;
};

// EndpointsJson: what GET /endpoints shows: {"version": N, "endpoints":
// [{"address": "10.1.2.3:80", "identities": [...], "source", "origin"}]}
// (version 0 and no endpoints before the first update).
std::string EndpointsJson(const EndpointTable* table);

// CanonicalIp: inet_ntop of the address's IP ("10.1.2.3", "fd00::1"); an
// IPv4-mapped IPv6 address gives its IPv4 form.
std::string CanonicalIp(const SocketAddress& address);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_DISCOVERY_ENDPOINT_TABLE_H_
