#include "proxy/tls/session_ticket.h"

#include <cstring>
#include <vector>

#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

namespace tether::proxy {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kKeyLength = 32;
// valid_until, the serial's length, the identity's length.
constexpr size_t kFixedHeader = 8 + 1 + 2;

const EVP_AEAD* Aead() { return EVP_aead_aes_256_gcm_randnonce(); }

void PutBigEndian(uint64_t v, size_t bytes, std::vector<uint8_t>& out) {
  for (size_t i = bytes; i > 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * (i - 1))));
}

uint64_t GetBigEndian(const uint8_t* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::shared_ptr<const SessionTicketKey> SessionTicketKey::Generate() {
  uint8_t key[kKeyLength];
  RAND_bytes(key, sizeof(key));
  auto out = FromBytes(key);
  OPENSSL_cleanse(key, sizeof(key));
  return out;
}

std::shared_ptr<const SessionTicketKey> SessionTicketKey::FromBytes(
    absl::Span<const uint8_t> key) {
  if (key.size() != kKeyLength) return nullptr;
  std::shared_ptr<SessionTicketKey> k(new SessionTicketKey());
  if (!EVP_AEAD_CTX_init(&k->aead_, Aead(), key.data(), key.size(), EVP_AEAD_DEFAULT_TAG_LENGTH,
                         nullptr)) {
    ERR_clear_error();
    return nullptr;
  }
  k->initialized_ = true;
  return k;
}

SessionTicketKey::~SessionTicketKey() {
  if (initialized_) EVP_AEAD_CTX_cleanup(&aead_);
}

size_t SessionTicketKey::MaxOverhead() {
  return 1 + EVP_AEAD_max_overhead(Aead()) + kFixedHeader + kMaxTicketSerialLength +
         kMaxTicketPeerIdLength;
}

bool SessionTicketKey::Seal(const TicketBound& bound, absl::Span<const uint8_t> session,
                            uint8_t* out, size_t* out_len, size_t max_out) const {
  TicketBound b = bound;
  if (b.peer_serial.size() > kMaxTicketSerialLength ||
      b.peer_id.size() > kMaxTicketPeerIdLength) {
    b = TicketBound{};  // never resumable; cannot happen with mesh certificates
  }
  const int64_t until = b.valid_until == absl::InfinitePast()    ? 0
                        : b.valid_until == absl::InfiniteFuture() ? INT64_MAX
                                                                  : absl::ToUnixSeconds(b.valid_until);
  std::vector<uint8_t> plain;
  plain.reserve(kFixedHeader + b.peer_serial.size() + b.peer_id.size() + session.size());
  PutBigEndian(static_cast<uint64_t>(until), 8, plain);
  PutBigEndian(b.peer_serial.size(), 1, plain);
  plain.insert(plain.end(), b.peer_serial.begin(), b.peer_serial.end());
  PutBigEndian(b.peer_id.size(), 2, plain);
  plain.insert(plain.end(), b.peer_id.begin(), b.peer_id.end());
  plain.insert(plain.end(), session.begin(), session.end());
  if (max_out < 1) return false;
  out[0] = kVersion;
  size_t sealed = 0;
  if (!EVP_AEAD_CTX_seal(&aead_, out + 1, &sealed, max_out - 1, nullptr, 0, plain.data(),
                         plain.size(), &kVersion, 1)) {
    ERR_clear_error();
    return false;
  }
  *out_len = 1 + sealed;
  return true;
}

std::optional<TicketBound> SessionTicketKey::Open(absl::Span<const uint8_t> ticket, uint8_t* out,
                                                  size_t* out_len, size_t max_out) const {
  if (ticket.size() < 1 || ticket[0] != kVersion) return std::nullopt;
  std::vector<uint8_t> plain(ticket.size());
  size_t plain_len = 0;
  if (!EVP_AEAD_CTX_open(&aead_, plain.data(), &plain_len, plain.size(), nullptr, 0,
                         ticket.data() + 1, ticket.size() - 1, &kVersion, 1)) {
    ERR_clear_error();
    return std::nullopt;
  }
  // Sealed by this key, so well formed unless the key was misused; check
  // every length anyway.
  const uint8_t* p = plain.data();
  size_t left = plain_len;
  if (left < 9) return std::nullopt;
  TicketBound b;
  const auto until = static_cast<int64_t>(GetBigEndian(p, 8));
  b.valid_until = until == INT64_MAX ? absl::InfiniteFuture() : absl::FromUnixSeconds(until);
  const size_t serial_len = p[8];
  p += 9;
  left -= 9;
  if (left < serial_len + 2) return std::nullopt;
  b.peer_serial.assign(reinterpret_cast<const char*>(p), serial_len);
  p += serial_len;
  left -= serial_len;
  const size_t id_len = GetBigEndian(p, 2);
  p += 2;
  left -= 2;
  if (left < id_len) return std::nullopt;
  b.peer_id.assign(reinterpret_cast<const char*>(p), id_len);
  p += id_len;
  left -= id_len;
  if (left > max_out) return std::nullopt;
  memcpy(out, p, left);
  *out_len = left;
  return b;
}

}  // namespace tether::proxy
