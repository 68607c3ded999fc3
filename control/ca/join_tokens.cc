#include "control/ca/join_tokens.h"

#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control {
namespace {

constexpr absl::string_view kPrefix = "tjt_";

}  // namespace

std::string HashToken(absl::string_view token) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(token.data()), token.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

absl::StatusOr<std::unique_ptr<JoinTokens>> JoinTokens::Load(std::string path, const Clock* clock) {
  std::unique_ptr<JoinTokens> tokens(new JoinTokens(path, clock));
  absl::StatusOr<std::string> data = ReadFile(path);
  if (absl::IsNotFound(data.status())) return tokens;
  if (!data.ok()) return data.status();
  nlohmann::json doc = nlohmann::json::parse(*data, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("tokens") ||
      !doc["tokens"].is_array()) {
    return absl::DataLossError(absl::StrCat(path, ": not a join-token file"));
  }
  MutexLock lock(&tokens->mu_);
  for (const auto& t : doc["tokens"]) {
    if (!t.is_object() || !t.contains("sha256") || !t["sha256"].is_string() ||
        !t.contains("spiffe_id") || !t["spiffe_id"].is_string() || !t.contains("expires") ||
        !t["expires"].is_number_integer()) {
      return absl::DataLossError(absl::StrCat(path, ": malformed token entry"));
    }
    Entry e;
    e.spiffe_id = t["spiffe_id"].get<std::string>();
    e.expires = absl::FromUnixSeconds(t["expires"].get<int64_t>());
    e.used = t.contains("used") && t["used"].is_boolean() && t["used"].get<bool>();
    tokens->by_hash_[t["sha256"].get<std::string>()] = std::move(e);
  }
  return tokens;
}

absl::StatusOr<JoinTokens::Minted> JoinTokens::Create(const pki::SpiffeId& id, absl::Duration ttl) {
  if (ttl == absl::ZeroDuration()) ttl = kDefaultJoinTokenTtl;
  if (ttl < absl::ZeroDuration() || ttl > kMaxJoinTokenTtl) {
    return absl::InvalidArgumentError(absl::StrCat("join token ttl must be in (0, ",
                                                   absl::FormatDuration(kMaxJoinTokenTtl), "]"));
  }
  uint8_t random[32];
  RAND_bytes(random, sizeof(random));
  Minted minted;
  minted.token = absl::StrCat(kPrefix, absl::WebSafeBase64Escape(absl::string_view(
                                           reinterpret_cast<const char*>(random), sizeof(random))));
  MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  minted.expires = now + ttl;
  PruneLocked(now);
  by_hash_[HashToken(minted.token)] = Entry{id.ToString(), minted.expires, false};
  if (absl::Status st = SaveLocked(); !st.ok()) {
    by_hash_.erase(HashToken(minted.token));
    return st;
  }
  return minted;
}

absl::StatusOr<pki::SpiffeId> JoinTokens::Redeem(absl::string_view token) {
  if (!absl::StartsWith(token, kPrefix) || token.size() > 128) {
    return absl::UnauthenticatedError("unknown join token (not a Tether join token)");
  }
  MutexLock lock(&mu_);
  absl::Time now = clock_->Now();
  auto it = by_hash_.find(HashToken(token));
  if (it == by_hash_.end()) return absl::UnauthenticatedError("unknown join token");
  Entry& e = it->second;
  if (e.used) return absl::UnauthenticatedError("join token was already used");
  if (now >= e.expires) {
    return absl::UnauthenticatedError(
        absl::StrCat("join token expired at ", absl::FormatTime(e.expires, absl::UTCTimeZone())));
  }
  absl::StatusOr<pki::SpiffeId> id = pki::SpiffeId::Parse(e.spiffe_id);
  if (!id.ok()) return absl::InternalError("stored join token has an invalid identity");
  e.used = true;
  if (absl::Status st = SaveLocked(); !st.ok()) {
    // Not recorded as used: refuse rather than risk a second redemption.
    e.used = false;
    return absl::UnavailableError(absl::StrCat("cannot record join token use: ", st.message()));
  }
  return id;
}

void JoinTokens::PruneLocked(absl::Time now) {
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    if (it->second.expires <= now) {
      by_hash_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status JoinTokens::SaveLocked() {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [hash, e] : by_hash_) {
    list.push_back({{"sha256", hash},
                    {"spiffe_id", e.spiffe_id},
                    {"expires", absl::ToUnixSeconds(e.expires)},
                    {"used", e.used}});
  }
  nlohmann::json doc = {{"tokens", list}};
  return WriteFileAtomic(path_, doc.dump(2) + "\n", 0600);
}

}  // namespace tether::control
