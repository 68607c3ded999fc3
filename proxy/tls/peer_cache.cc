#include "proxy/tls/peer_cache.h"

#include <cstdint>

#include <openssl/sha.h>

namespace tether::proxy {

std::string VerifiedPeerCache::Key(absl::string_view bundle_digest, absl::string_view trust_domain,
                                   pki::Purpose purpose,
                                   absl::Span<const absl::string_view> chain_der) {
  SHA256_CTX sha;
  SHA256_Init(&sha);
  // Every part is length-prefixed, so that no two inputs hash alike.
  auto add = [&sha](absl::string_view part) {
    const uint64_t len = part.size();
    SHA256_Update(&sha, &len, sizeof(len));
    SHA256_Update(&sha, part.data(), part.size());
  };
  add(bundle_digest);
  add(trust_domain);
  const auto p = static_cast<uint8_t>(purpose);
  SHA256_Update(&sha, &p, 1);
  for (absl::string_view der : chain_der) add(der);
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256_Final(reinterpret_cast<uint8_t*>(out.data()), &sha);
  return out;
}

const VerifiedPeerCache::Entry* VerifiedPeerCache::Find(absl::string_view key, absl::Time now,
                                                        const pki::Revocations& revoked) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  const Entry& e = it->second;
  if (now < e.valid_from || now >= e.valid_until) return nullptr;
  if (revoked.serials.contains(e.peer.serial_hex) ||
      revoked.spiffe_ids.contains(e.peer.spiffe_id.ToString())) {
    return nullptr;
  }
  return &e;
}

void VerifiedPeerCache::Insert(std::string key, Entry entry) {
  if (max_entries_ == 0) return;
  if (entries_.size() >= max_entries_) entries_.clear();
  entries_.insert_or_assign(std::move(key), std::move(entry));
}

}  // namespace tether::proxy
