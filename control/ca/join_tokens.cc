#include "control/ca/join_tokens.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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
  std::unique_ptr<JoinTokens> tokens(new JoinTokens(clock));
  MutexLock lock(&tokens->mu_);
  auto journal = Journal::Open(std::move(path), [&](const nlohmann::json& record) {
    tokens->mu_.AssertHeld();
    return tokens->ApplyRecord(record);
  });
  if (!journal.ok()) return journal.status();
  tokens->journal_ = *std::move(journal);
  if (absl::Status st = tokens->CompactLocked(); !st.ok()) return st;
  return tokens;
}

// Journal records: {"mint": SHA256, "spiffe_id": ID, "expires": UNIX_SECONDS,
// "addresses": ["IP[:PORT]", ...] (optional)} and {"use": SHA256}.
absl::Status JoinTokens::ApplyRecord(const nlohmann::json& record) {
  if (auto mint = record.find("mint"); mint != record.end()) {
    auto id = record.find("spiffe_id");
    auto expires = record.find("expires");
    if (!mint->is_string() || id == record.end() || !id->is_string() || expires == record.end() ||
        !expires->is_number_integer()) {
      return absl::InvalidArgumentError("malformed mint record");
    }
    Entry entry{id->get<std::string>(), absl::FromUnixSeconds(expires->get<int64_t>()), false, {}};
    if (auto addrs = record.find("addresses"); addrs != record.end()) {
      if (!addrs->is_array()) return absl::InvalidArgumentError("malformed mint record addresses");
      for (const auto& a : *addrs) {
        if (!a.is_string()) return absl::InvalidArgumentError("malformed mint record addresses");
        entry.addresses.push_back(a.get<std::string>());
      }
    }
    by_hash_[mint->get<std::string>()] = std::move(entry);
    return absl::OkStatus();
  }
  if (auto use = record.find("use"); use != record.end() && use->is_string()) {
    // A use of a token already compacted away (expired) changes nothing.
    if (auto it = by_hash_.find(use->get<std::string>()); it != by_hash_.end()) {
      it->second.used = true;
    }
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("neither a mint nor a use record");
}

absl::Status JoinTokens::CompactLocked() {
  const absl::Time now = clock_->Now();
  std::vector<nlohmann::json> live;
  live.reserve(by_hash_.size());
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    if (it->second.expires <= now) {
      by_hash_.erase(it++);
      continue;
    }
    nlohmann::json mint = {{"mint", it->first},
                           {"spiffe_id", it->second.spiffe_id},
                           {"expires", absl::ToUnixSeconds(it->second.expires)}};
    if (!it->second.addresses.empty()) mint["addresses"] = it->second.addresses;
    live.push_back(std::move(mint));
    if (it->second.used) live.push_back({{"use", it->first}});
    ++it;
  }
  if (absl::Status st = journal_->Rewrite(live); !st.ok()) return st;
  compact_at_ = std::max<size_t>(1024, 2 * live.size());
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> JoinTokens::AppendLocked(const nlohmann::json& record) {
  if (journal_->records() >= compact_at_) {
    if (absl::Status st = CompactLocked(); !st.ok()) return st;
  }
  return journal_->Append(record);
}

absl::StatusOr<JoinTokens::Minted> JoinTokens::Create(const pki::SpiffeId& id, absl::Duration ttl,
                                                      std::vector<std::string> addresses) {
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
  const std::string hash = HashToken(minted.token);
  absl::StatusOr<uint64_t> sequence;
  {
    MutexLock lock(&mu_);
    minted.expires = clock_->Now() + ttl;
    nlohmann::json record = {{"mint", hash},
                             {"spiffe_id", id.ToString()},
                             {"expires", absl::ToUnixSeconds(minted.expires)}};
    if (!addresses.empty()) record["addresses"] = addresses;
    sequence = AppendLocked(record);
    if (!sequence.ok()) return sequence.status();
    by_hash_[hash] = Entry{id.ToString(), minted.expires, false, std::move(addresses)};
  }
  if (absl::Status st = journal_->Sync(*sequence); !st.ok()) {
    MutexLock lock(&mu_);
    by_hash_.erase(hash);  // never handed out, so never usable
    return st;
  }
  return minted;
}

absl::StatusOr<pki::SpiffeId> JoinTokens::Redeem(absl::string_view token, Redeemed* redeemed) {
  if (!absl::StartsWith(token, kPrefix) || token.size() > 128) {
    return absl::UnauthenticatedError("unknown join token (not a Tether join token)");
  }
  const std::string hash = HashToken(token);
  absl::StatusOr<pki::SpiffeId> id;
  absl::StatusOr<uint64_t> sequence;
  {
    MutexLock lock(&mu_);
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return absl::UnauthenticatedError("unknown join token");
    Entry& e = it->second;
    if (e.used) return absl::UnauthenticatedError("join token was already used");
    if (clock_->Now() >= e.expires) {
      return absl::UnauthenticatedError(
          absl::StrCat("join token expired at ", absl::FormatTime(e.expires, absl::UTCTimeZone())));
    }
    id = pki::SpiffeId::Parse(e.spiffe_id);
    if (!id.ok()) return absl::InternalError("stored join token has an invalid identity");
    if (redeemed != nullptr) {
      redeemed->addresses = e.addresses;
      redeemed->expires = e.expires;
      redeemed->token_id = hash.substr(0, 16);
    }
    // Marked used before the record is durable: a second Redeem racing this
    // one is refused either way.
    sequence = AppendLocked({{"use", hash}});
    if (!sequence.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot record join token use: ", sequence.status().message()));
    }
    e.used = true;
  }
  if (absl::Status st = journal_->Sync(*sequence); !st.ok()) {
    // Not known to be recorded, so this use does not count: refuse it and
    // leave the token usable, rather than risk a second redemption after a
    // restart.
    MutexLock lock(&mu_);
    if (auto it = by_hash_.find(hash); it != by_hash_.end()) it->second.used = false;
    return absl::UnavailableError(absl::StrCat("cannot record join token use: ", st.message()));
  }
  return id;
}

}  // namespace tether::control
