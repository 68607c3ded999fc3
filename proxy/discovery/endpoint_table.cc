#include "proxy/discovery/endpoint_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace tether::proxy {
namespace {

// ParseIp: the canonical text of `text` if it is an IP address, else "";
// an IPv4-mapped IPv6 address is its IPv4 form, as CanonicalIp gives.
std::string ParseIp(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    return inet_ntop(AF_INET, buf, out, sizeof(out)) != nullptr ? out : "";
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) != 1) return "";
  const auto* a6 = reinterpret_cast<const in6_addr*>(buf);
  const char* r = IN6_IS_ADDR_V4MAPPED(a6) ? inet_ntop(AF_INET, buf + 12, out, sizeof(out))
                                           : inet_ntop(AF_INET6, buf, out, sizeof(out));
  return r != nullptr ? out : "";
}

absl::StatusOr<std::pair<std::string, uint16_t>> KeyOf(const std::string& ip, uint32_t port) {
  std::string canonical = ip.size() < INET6_ADDRSTRLEN ? ParseIp(ip) : "";
  if (canonical.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint \"", ip.substr(0, 64), "\" is not an IP"));
  }
  if (port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("endpoint ", ip, ": port ", port));
  return std::make_pair(std::move(canonical), static_cast<uint16_t>(port));
}

}  // namespace

std::string CanonicalIp(const SocketAddress& address) {
  char out[INET6_ADDRSTRLEN] = {0};
  if (address.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&address.storage);
    inet_ntop(AF_INET, &sin->sin_addr, out, sizeof(out));
  } else if (address.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], out, sizeof(out));
    } else {
      inet_ntop(AF_INET6, &sin6->sin6_addr, out, sizeof(out));
    }
  }
  return out;
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
      std::string address = key.first;
      if (key.second != 0) {
        address = key.first.find(':') != std::string::npos
                      ? absl::StrCat("[", key.first, "]:", key.second)
                      : absl::StrCat(key.first, ":", key.second);
      }
      nlohmann::json ids = nlohmann::json::array();
      for (const auto& id : e.identities) ids.push_back(id.ToString());
      list.push_back({{"address", address},
                      {"identities", std::move(ids)},
                      {"source", e.source},
                      {"origin", e.origin}});
    }
  }
  nlohmann::json j = {{"version", table ? table->version() : 0}, {"endpoints", std::move(list)}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace tether::proxy
