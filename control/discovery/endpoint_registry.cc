#include "control/discovery/endpoint_registry.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control {
namespace {

std::string KeyText(const Endpoint& e) { return absl::StrCat(e.ip, "|", e.port); }

bool KeyLess(const Endpoint& a, const Endpoint& b) { return a.Key() < b.Key(); }

void SortUnique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Merge folds entries with the same key into one: identities united,
// origins joined; the first entry's source stays.
std::vector<Endpoint> Merge(std::vector<Endpoint> all) {
  std::stable_sort(all.begin(), all.end(), KeyLess);
  std::vector<Endpoint> out;
  for (Endpoint& e : all) {
    SortUnique(e.identities);
    if (!out.empty() && out.back().Key() == e.Key()) {
      Endpoint& m = out.back();
      m.identities.insert(m.identities.end(), e.identities.begin(), e.identities.end());
      SortUnique(m.identities);
      if (m.origin != e.origin) absl::StrAppend(&m.origin, "; ", e.origin);
      m.unmeshed_endpoints += e.unmeshed_endpoints;
      m.backends.insert(m.backends.end(), e.backends.begin(), e.backends.end());
      std::sort(m.backends.begin(), m.backends.end());
      m.backends.erase(std::unique(m.backends.begin(), m.backends.end()), m.backends.end());
      if (m.backends.size() > kMaxBackends) m.backends.resize(kMaxBackends);
      if (m.protocol == DeclaredProtocol::kUnknown) m.protocol = e.protocol;
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EndpointRegistry>> EndpointRegistry::Load(std::string path,
                                                                         const Clock* clock) {
  std::unique_ptr<EndpointRegistry> reg(new EndpointRegistry(std::move(path), clock));
  MutexLock lock(&reg->mu_);
  if (!reg->path_.empty() && FileExists(reg->path_)) {
    absl::StatusOr<std::string> text = ReadFile(reg->path_, 16 << 20);
    if (!text.ok()) return text.status();
    nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    auto corrupt = [&](absl::string_view why) {
      return absl::DataLossError(absl::StrCat(reg->path_, ": ", why));
    };
    if (!doc.is_object() || !doc.contains("join_token_bindings") ||
        !doc["join_token_bindings"].is_object()) {
      return corrupt("not an endpoint registry (want {\"join_token_bindings\": {...}})");
    }
    for (const auto& [id, addrs] : doc["join_token_bindings"].items()) {
      if (!pki::SpiffeId::Parse(id).ok() || !addrs.is_array()) {
        return corrupt(absl::StrCat("bad binding for \"", id.substr(0, 128), "\""));
      }
      std::vector<EndpointAddress>& list = reg->tokens_[id];
      for (const auto& a : addrs) {
        absl::StatusOr<EndpointAddress> parsed = a.is_string()
                                                     ? ParseEndpointAddress(a.get<std::string>())
                                                     : absl::InvalidArgumentError("not a string");
        if (!parsed.ok()) return corrupt(absl::StrCat(id, ": ", parsed.status().message()));
        list.push_back(*parsed);
      }
    }
  }
  auto empty = std::make_shared<EndpointSnapshot>();
  empty->version = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(clock->Now())));
  reg->current_ = std::move(empty);
  reg->RebuildLocked();
  return reg;
}

absl::Status EndpointRegistry::SaveLocked() const {
  if (path_.empty()) return absl::OkStatus();
  nlohmann::json bindings = nlohmann::json::object();
  for (const auto& [id, addrs] : tokens_) {
    nlohmann::json list = nlohmann::json::array();
    for (const EndpointAddress& a : addrs) list.push_back(a.ToString());
    bindings[id] = std::move(list);
  }
  nlohmann::json doc = {{"join_token_bindings", std::move(bindings)}};
  absl::Status st = WriteFileAtomic(path_, doc.dump(2) + "\n", 0600);
  if (!st.ok())
    return absl::UnavailableError(absl::StrCat("cannot store endpoint bindings: ", st.message()));
  return st;
}

absl::Status EndpointRegistry::BindJoinToken(const pki::SpiffeId& id,
                                             const std::vector<EndpointAddress>& addresses) {
  if (addresses.size() > kMaxAddressesPerWorkload) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxAddressesPerWorkload, " addresses per workload"));
  }
  const std::string key = id.ToString();
  bool changed;
  {
    MutexLock lock(&mu_);
    auto it = tokens_.find(key);
    std::vector<EndpointAddress> before;
    const bool had = it != tokens_.end();
    if (had) before = it->second;
    if (addresses.empty()) {
      if (!had) return absl::OkStatus();
      tokens_.erase(it);
    } else {
      tokens_[key] = addresses;
    }
    if (absl::Status st = SaveLocked(); !st.ok()) {
      if (had) {
        tokens_[key] = std::move(before);
      } else {
        tokens_.erase(key);
      }
      return st;
    }
    changed = RebuildLocked();
  }
  if (changed) Notify();
  return absl::OkStatus();
}

void EndpointRegistry::ExpectKubernetes() {
  MutexLock lock(&mu_);
  waiting_for_kubernetes_ = true;
  RebuildLocked();
}

void EndpointRegistry::SetKubernetes(std::vector<Endpoint> endpoints) {
  bool changed;
  {
    MutexLock lock(&mu_);
    kubernetes_ = std::move(endpoints);
    waiting_for_kubernetes_ = false;
    changed = RebuildLocked();
  }
  if (changed) Notify();
}

bool EndpointRegistry::RebuildLocked() {
  std::vector<Endpoint> all = kubernetes_;
  for (const auto& [id, addrs] : tokens_) {
    for (const EndpointAddress& a : addrs) {
      Endpoint e;
      e.ip = a.ip;
      e.port = a.port;
      e.identities = {id};
      e.source = EndpointSource::kJoinToken;
      e.origin = absl::StrCat("join token for ", id);
      all.push_back(std::move(e));
    }
  }
  std::vector<Endpoint> merged = Merge(std::move(all));
  const bool complete = !waiting_for_kubernetes_;
  if (merged == current_->endpoints && complete == current_->complete) return false;
  auto next = std::make_shared<EndpointSnapshot>();
  next->complete = complete;
  const absl::Time now = clock_->Now();
  // Versions grow with the wall clock, so that a restarted control plane's
  // are above those it sent before.
  next->version = std::max<uint64_t>(
      current_->version + 1, static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(now))));
  for (const Endpoint& e : merged) {
    const std::string k = KeyText(e);
    auto old = std::lower_bound(current_->endpoints.begin(), current_->endpoints.end(), e, KeyLess);
    const bool same = old != current_->endpoints.end() && old->Key() == e.Key() && *old == e;
    auto since = current_->since.find(k);
    next->since[k] = same && since != current_->since.end() ? since->second : now;
  }
  next->endpoints = std::move(merged);
  current_ = std::move(next);
  return true;
}

void EndpointRegistry::Notify() {
  std::function<void()> cb;
  {
    MutexLock lock(&mu_);
    cb = on_change_;
  }
  if (cb) cb();
}

std::shared_ptr<const EndpointSnapshot> EndpointRegistry::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

void EndpointRegistry::SetOnChange(std::function<void()> callback) {
  MutexLock lock(&mu_);
  on_change_ = std::move(callback);
}

}  // namespace tether::control
