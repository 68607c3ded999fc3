#include "proxy/tls/session_cache.h"

#include <utility>

namespace tether::proxy {
namespace {

bool Expired(const SSL_SESSION* s, uint64_t now_unix) {
  return SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) <= now_unix;
}

}  // namespace

bssl::UniquePtr<SSL_SESSION> TlsSessionCache::Take(absl::string_view key, uint64_t now_unix) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  std::deque<bssl::UniquePtr<SSL_SESSION>>& q = it->second.sessions;
  bssl::UniquePtr<SSL_SESSION> out;
  while (!q.empty() && out == nullptr) {
    bssl::UniquePtr<SSL_SESSION> s = std::move(q.back());
    q.pop_back();
    if (!Expired(s.get(), now_unix)) out = std::move(s);
  }
  if (q.empty()) entries_.erase(it);
  return out;
}

void TlsSessionCache::Put(absl::string_view key, bssl::UniquePtr<SSL_SESSION> session) {
  if (session == nullptr || per_key_ == 0 || max_keys_ == 0) return;
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
