#include "proxy/discovery/endpoint_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/ip_text.h"

namespace tether::proxy {
namespace {

absl::StatusOr<std::pair<std::string, uint16_t>> KeyOf(const std::string& ip, uint32_t port) {
  std::optional<std::string> canonical = ::tether::CanonicalIp(ip);
  if (!canonical) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint \"", ip.substr(0, 64), "\" is not an IP"));
  }
  if (port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("endpoint ", ip, ": port ", port));
  return std::make_pair(*std::move(canonical), static_cast<uint16_t>(port));
}

DeclaredProtocol ProtocolOf(const std::string& word) {
  if (word == "http") return DeclaredProtocol::kHttp;
  if (word == "opaque") return DeclaredProtocol::kOpaque;
  return DeclaredProtocol::kUnknown;
}

const char* ProtocolWord(DeclaredProtocol p) {
  switch (p) {
    case DeclaredProtocol::kHttp:
      return "http";
    case DeclaredProtocol::kOpaque:
      return "opaque";
    case DeclaredProtocol::kUnknown:
      break;
  }
  return "";
}

absl::Status ParseBackends(const tether::discovery::v1::Endpoint& e,
                           std::vector<SocketAddress>& out) {
  if (static_cast<size_t>(e.backends_size()) > kMaxBackendsPerEntry) {
    return absl::InvalidArgumentError(absl::StrCat("endpoint ", e.ip().substr(0, 64), ": over ",
                                                   kMaxBackendsPerEntry, " backends"));
  }
  out.reserve(e.backends_size());
  for (const auto& b : e.backends()) {
    std::optional<std::string> canonical = ::tether::CanonicalIp(b.ip());
    absl::StatusOr<SocketAddress> address =
        canonical && *canonical == b.ip() && b.port() >= 1 && b.port() <= 65535
            ? SocketAddress::Parse(JoinHostPort(b.ip(), static_cast<uint16_t>(b.port())))
            : absl::InvalidArgumentError("not canonical");
    if (!address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint ", e.ip().substr(0, 64),
                                                     ": backend \"", b.ip().substr(0, 64),
                                                     "\" port ", b.port(), " is not an address"));
    }
    out.push_back(*address);
  }
  return absl::OkStatus();
}

}  // namespace

std::string CanonicalIp(const SocketAddress& address) {
  if (address.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&address.storage);
    return CanonicalIpOfBytes(reinterpret_cast<const unsigned char*>(&sin->sin_addr), 4);
  }
  if (address.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    return CanonicalIpOfBytes(sin6->sin6_addr.s6_addr, 16);
  }
  return "";
}

absl::StatusOr<std::shared_ptr<const EndpointTable>> EndpointTable::Apply(
    const EndpointTable* base, const tether::discovery::v1::DiscoveryUpdate& update) {
  auto next = std::make_shared<EndpointTable>();
  if (!update.full()) {
    if (base == nullptr) {
      return absl::FailedPreconditionError("a discovery delta before any full update");
    }
    if (update.version() <= base->version_) {
      return absl::FailedPreconditionError(
          absl::StrCat("discovery version ", update.version(), " is not above ", base->version_));
    }
    next->entries_ = base->entries_;
    for (const auto& k : update.removed()) {
      absl::StatusOr<std::pair<std::string, uint16_t>> key = KeyOf(k.ip(), k.port());
      if (!key.ok()) return key.status();
      next->entries_.erase(*key);
    }
  }
  for (const auto& e : update.endpoints()) {
    absl::StatusOr<std::pair<std::string, uint16_t>> key = KeyOf(e.ip(), e.port());
    if (!key.ok()) return key.status();
    Entry entry;
    for (const std::string& id : e.identities()) {
      absl::StatusOr<pki::SpiffeId> parsed = pki::SpiffeId::Parse(id);
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("endpoint ", e.ip(), ": identity: ", parsed.status().message()));
      }
      entry.identities.push_back(*std::move(parsed));
    }
    entry.source = e.source().substr(0, 64);
    entry.origin = e.origin().substr(0, 256);
    if (absl::Status st = ParseBackends(e, entry.backends); !st.ok()) return st;
    entry.protocol = ProtocolOf(e.protocol());
    next->entries_[*std::move(key)] = std::move(entry);
  }
  if (next->entries_.size() > kMaxEndpoints) {
    return absl::InvalidArgumentError(
        absl::StrCat("discovery update holds over ", kMaxEndpoints, " endpoints"));
  }
  next->version_ = update.version();
  return std::shared_ptr<const EndpointTable>(std::move(next));
}

const EndpointTable::Entry* EndpointTable::Find(const SocketAddress& destination) const {
  if (entries_.empty()) return nullptr;
  std::pair<std::string, uint16_t> key{CanonicalIp(destination), destination.port()};
  if (auto it = entries_.find(key); it != entries_.end()) return &it->second;
  key.second = 0;
  if (auto it = entries_.find(key); it != entries_.end()) return &it->second;
  return nullptr;
}

std::string EndpointsJson(const EndpointTable* table) {
  nlohmann::json list = nlohmann::json::array();
  if (table != nullptr) {
    for (const auto& [key, e] : table->entries()) {
      const std::string address = key.second == 0 ? key.first : JoinHostPort(key.first, key.second);
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& id : e.identities) ids.push_back(id.ToString());
      nlohmann::json item = {{"address", address},
                             {"identities", std::move(ids)},
                             {"source", e.source},
                             {"origin", e.origin}};
      if (!e.backends.empty()) {
        nlohmann::json backends = nlohmann::json::array();
        for (const SocketAddress& b : e.backends) backends.push_back(b.ToString());
        item["backends"] = std::move(backends);
      }
      if (e.protocol != DeclaredProtocol::kUnknown) item["protocol"] = ProtocolWord(e.protocol);
      list.push_back(std::move(item));
    }
  }
  nlohmann::json j = {{"version", table ? table->version() : 0}, {"endpoints", std::move(list)}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tether::proxy
