#include "proxy/tls/session_cache.h"

#include <utility>

namespace tether::proxy {
namespace {

bool Offerable(const CachedSession& s, absl::Time now, const pki::Revocations& revoked) {
  // BoringSSL's own lifetime of the ticket (the server's hint), in Unix seconds.
  const absl::Time ticket_end = absl::FromUnixSeconds(
      static_cast<int64_t>(SSL_SESSION_get_time(s.session.get()) +
                           SSL_SESSION_get_timeout(s.session.get())));
  if (now >= s.valid_until || now >= ticket_end) return false;
  return !revoked.serials.contains(s.peer_serial) && !revoked.spiffe_ids.contains(s.peer_id);
}

}  // namespace

void TlsSessionCache::UseCredentials(absl::string_view credentials) {
  if (credentials == credentials_) return;
  flushed_ += size();
  entries_.clear();
  credentials_ = std::string(credentials);
}

bssl::UniquePtr<SSL_SESSION> TlsSessionCache::Take(absl::string_view key,
                                                   absl::string_view credentials, absl::Time now,
                                                   const pki::Revocations& revoked) {
  UseCredentials(credentials);
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  std::deque<CachedSession>& q = it->second.sessions;
  bssl::UniquePtr<SSL_SESSION> out;
  while (!q.empty() && out == nullptr) {
    CachedSession s = std::move(q.back());
    q.pop_back();
    if (Offerable(s, now, revoked)) out = std::move(s.session);
  }
  if (q.empty()) entries_.erase(it);
  return out;
}

void TlsSessionCache::Put(absl::string_view key, absl::string_view credentials,
                          CachedSession session) {
  if (session.session == nullptr || per_key_ == 0 || max_keys_ == 0) return;
  UseCredentials(credentials);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) EvictOldestKey();
    it = entries_.emplace(std::string(key), Entry()).first;
  }
  Entry& e = it->second;
  e.sessions.push_back(std::move(session));
  while (e.sessions.size() > per_key_) e.sessions.pop_front();
  e.stored = ++puts_;
}

void TlsSessionCache::EvictOldestKey() {
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (oldest == entries_.end() || it->second.stored < oldest->second.stored) oldest = it;
  }
  if (oldest != entries_.end()) entries_.erase(oldest);
}

size_t TlsSessionCache::size() const {
  size_t n = 0;
  for (const auto& [key, e] : entries_) n += e.sessions.size();
  return n;
}

}  // namespace tether::proxy
