#include "control/ca/token_cache.h"

#include <algorithm>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace tether::control {
namespace {

std::string Sha256(absl::string_view token) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(token.data()), token.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

std::optional<absl::Time> JwtExpiry(absl::string_view token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return std::nullopt;
  std::string payload;
  if (!absl::WebSafeBase64Unescape(parts[1], &payload)) return std::nullopt;
  nlohmann::json claims = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!claims.is_object()) return std::nullopt;
  auto exp = claims.find("exp");
  if (exp == claims.end() || !exp->is_number()) return std::nullopt;
  const double seconds = exp->get<double>();
  // Beyond what absl::Time holds sensibly: treat as no expiry (max_ttl caps it).
  if (!(seconds > 0 && seconds < 1e11)) return std::nullopt;
  return absl::FromUnixSeconds(static_cast<int64_t>(seconds));
}

absl::StatusOr<pki::SpiffeId> CachingAuthenticator::Authenticate(absl::string_view token) {
  absl::StatusOr<Authentication> result = AuthenticateWorkload(token);
  if (!result.ok()) return result.status();
  return std::move(result->id);
}

absl::StatusOr<Authentication> CachingAuthenticator::AuthenticateWorkload(
    absl::string_view token) {
  if (options_.max_entries == 0) return inner_->AuthenticateWorkload(token);
  const std::string key = Sha256(token);
  std::optional<absl::StatusOr<Authentication>> cached;
  {
    MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && clock_->Now() < it->second.expires) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      cached = it->second.result;
    } else {
      if (it != entries_.end()) {
        lru_.erase(it->second.lru);
        entries_.erase(it);
      }
      ++misses_;
    }
  }
  if (observer_) observer_(cached.has_value());
  if (cached) return *std::move(cached);
  // Outside the lock: a review blocks for up to seconds.
  absl::StatusOr<Authentication> result = inner_->AuthenticateWorkload(token);
  Remember(key, token, result);
  return result;
}

absl::StatusOr<Authentication> CachingAuthenticator::Review(absl::string_view token) {
  absl::StatusOr<Authentication> result = inner_->Review(token);
  if (options_.max_entries > 0) Remember(Sha256(token), token, result);
  return result;
}

void CachingAuthenticator::Remember(const std::string& key, absl::string_view token,
                                    const absl::StatusOr<Authentication>& result) {
  const absl::Time now = clock_->Now();
  absl::Time expires = now;
  if (result.ok()) {
    expires = now + options_.max_ttl;
    if (std::optional<absl::Time> exp = JwtExpiry(token)) expires = std::min(expires, *exp);
  } else if (result.status().code() == absl::StatusCode::kUnauthenticated) {
    expires = now + options_.negative_ttl;
  }
  MutexLock lock(&mu_);
  if (expires > now) {
    InsertLocked(key, result, expires);
  } else if (auto it = entries_.find(key); it != entries_.end() && !result.ok() &&
                                           result.status().code() ==
                                               absl::StatusCode::kUnauthenticated) {
    // Refused, but negative caching is off: the old positive entry must not
    // outlive the refusal.
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
}

void CachingAuthenticator::InsertLocked(const std::string& key,
                                        absl::StatusOr<Authentication> result,
                                        absl::Time expires) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  while (entries_.size() >= options_.max_entries && !lru_.empty()) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  entries_.emplace(key, Entry{std::move(result), expires, lru_.begin()});
}

size_t CachingAuthenticator::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

uint64_t CachingAuthenticator::hits() const {
  MutexLock lock(&mu_);
  return hits_;
}

uint64_t CachingAuthenticator::misses() const {
  MutexLock lock(&mu_);
  return misses_;
}

}  // namespace tether::control
