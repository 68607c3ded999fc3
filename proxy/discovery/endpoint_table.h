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
// caller keeps the table it has. A backend must be a canonical IP with a
// port other than 0, at most kMaxBackendsPerEntry of them; a protocol word
// this proxy does not know reads as kUnknown (a newer control plane).
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
// Backends per Service entry (the control plane sends at most 1000).
inline constexpr size_t kMaxBackendsPerEntry = 1000;

// DeclaredProtocol: what a Service port declares it speaks (its appProtocol
// or port name, read by the control plane).
enum class DeclaredProtocol {
  kUnknown,  // detect
  kHttp,     // HTTP: looked at as HTTP even on a server-first port
  kOpaque,   // bytes: never sniffed, never terminated
};

class EndpointTable {
 public:
  struct Entry {
    std::vector<pki::SpiffeId> identities;  // empty: not meshed
    std::string source;
    std::string origin;
    // Service entries: the endpoints serving this port (pod ip:port), in
    // the control plane's order (sorted); empty otherwise.
    std::vector<SocketAddress> backends;
    DeclaredProtocol protocol = DeclaredProtocol::kUnknown;
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
// [{"address": "10.1.2.3:80", "identities": [...], "source", "origin",
// and for Service entries "backends": ["10.1.5.6:8080", ...] and
// "protocol": "http" | "opaque" when declared}]}
// (version 0 and no endpoints before the first update).
std::string EndpointsJson(const EndpointTable* table);

// CanonicalIp: inet_ntop of the address's IP ("10.1.2.3", "fd00::1"); an
// IPv4-mapped IPv6 address gives its IPv4 form.
std::string CanonicalIp(const SocketAddress& address);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_DISCOVERY_ENDPOINT_TABLE_H_
