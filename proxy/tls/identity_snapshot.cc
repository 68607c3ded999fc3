#include "proxy/tls/identity_snapshot.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "proxy/sniff/protocol_detector.h"
#include "proxy/tls/tls_transport.h"

namespace tether::proxy {
namespace {

// The server picks "tether" or ends the handshake: only mesh proxies talk here.
int SelectAlpn(SSL*, const uint8_t** out, uint8_t* out_len, const uint8_t* in, unsigned in_len,
               void*) {
  const size_t want = strlen(kTetherAlpn);
  for (unsigned i = 0; i < in_len;) {
    unsigned len = in[i];
    if (i + 1 + len > in_len) break;
    if (len == want && memcmp(in + i + 1, kTetherAlpn, want) == 0) {
      *out = in + i + 1;
      *out_len = static_cast<uint8_t>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> MakeContext(bool server, EVP_PKEY* key,
                                                     const pki::CertChain& chain,
                                                     absl::Duration lifetime) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_with_buffers_method()));
  if (!ctx) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  std::vector<bssl::UniquePtr<CRYPTO_BUFFER>> owned;
  std::vector<CRYPTO_BUFFER*> bufs;
  for (const auto& cert : chain) {
    std::string der = pki::CertToDer(cert.get());
    owned.emplace_back(
        CRYPTO_BUFFER_new(reinterpret_cast<const uint8_t*>(der.data()), der.size(), nullptr));
    bufs.push_back(owned.back().get());
  }
  if (!SSL_CTX_set_chain_and_key(ctx.get(), bufs.data(), bufs.size(), key, nullptr)) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the certificate does not match the key");
  }
  SSL_CTX_set_custom_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                            TlsTransport::VerifyPeer);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server) {
    SSL_CTX_set_alpn_select_cb(ctx.get(), SelectAlpn, nullptr);
    // Tickets carry their own bound (session_ticket.h), checked before a
    // resumption; the lifetime announced to clients is at most the
    // certificate's (BoringSSL's default is two days).
    SSL_CTX_set_ticket_aead_method(ctx.get(), &TlsTransport::kTicketMethod);
    const int64_t seconds = std::clamp<int64_t>(absl::ToInt64Seconds(lifetime), 1,
                                                SSL_DEFAULT_SESSION_PSK_DHE_TIMEOUT);
    SSL_CTX_set_session_psk_dhe_timeout(ctx.get(), static_cast<uint32_t>(seconds));
  } else {
    // Tickets from upstream peers go to the connection's TlsSessionCache.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT);
    SSL_CTX_sess_set_new_cb(ctx.get(), TlsTransport::NewSession);
    std::string wire =
        absl::StrCat(std::string(1, static_cast<char>(strlen(kTetherAlpn))), kTetherAlpn);
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  }
  return ctx;
}

// BundleDigest: SHA-256 of a bundle's roots, and when every one is valid.
struct BundleDigest {
  std::string digest;
  absl::Time valid_from = absl::InfinitePast();
  absl::Time valid_until = absl::InfiniteFuture();
};

BundleDigest DigestOf(const pki::TrustBundle& bundle) {
  BundleDigest out;
  SHA256_CTX sha;
  SHA256_Init(&sha);
  for (const auto& root : bundle.roots()) {
    std::string der = pki::CertToDer(root.get());
    SHA256_Update(&sha, der.data(), der.size());
    pki::CertInfo root_info = pki::DescribeCert(root.get());
    out.valid_from = std::max(out.valid_from, root_info.not_before);
    out.valid_until = std::min(out.valid_until, root_info.not_after);
  }
  out.digest.resize(SHA256_DIGEST_LENGTH);
  SHA256_Final(reinterpret_cast<uint8_t*>(out.digest.data()), &sha);
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const IdentitySnapshot>> IdentitySnapshot::Build(
    bssl::UniquePtr<EVP_PKEY> key, pki::CertChain chain, pki::TrustBundle bundle,
    pki::Revocations revocations, std::shared_ptr<const SessionTicketKey> ticket_key) {
  if (!key || chain.empty()) return absl::InvalidArgumentError("no key or no certificate");
  pki::CertInfo info = pki::DescribeCert(chain.front().get());
  auto id = pki::SpiffeId::Parse(info.spiffe_id);
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate has no valid SPIFFE ID: ", id.status().message()));
  }
  auto snap = std::make_shared<IdentitySnapshot>();
  snap->spiffe_id = *id;
  snap->serial_hex = info.serial_hex;
  snap->not_before = info.not_before;
  snap->not_after = info.not_after;
  const absl::Duration lifetime = info.not_after - info.not_before;
  auto server = MakeContext(true, key.get(), chain, lifetime);
  if (!server.ok()) return server.status();
  auto client = MakeContext(false, key.get(), chain, lifetime);
  if (!client.ok()) return client.status();
  snap->server_ctx = std::move(*server);
  snap->client_ctx = std::move(*client);
  snap->key = std::move(key);
  snap->chain = std::move(chain);
  BundleDigest digest = DigestOf(bundle);
  snap->bundle_digest = std::move(digest.digest);
  snap->roots_valid_from = digest.valid_from;
  snap->roots_valid_until = digest.valid_until;
  snap->bundle = std::move(bundle);
  snap->revocations = std::move(revocations);
  snap->credentials_id = absl::StrCat(snap->serial_hex, "|", snap->bundle_digest);
  snap->ticket_key = ticket_key != nullptr ? std::move(ticket_key) : SessionTicketKey::Generate();
  if (snap->ticket_key == nullptr) return absl::InternalError("cannot make a session ticket key");
  return std::shared_ptr<const IdentitySnapshot>(std::move(snap));
}

absl::StatusOr<std::shared_ptr<const IdentitySnapshot>> IdentitySnapshot::WithTrust(
    pki::TrustBundle new_bundle, pki::Revocations new_revocations) const {
  EVP_PKEY_up_ref(key.get());
  // Sessions were verified against the bundle: with another, a new key.
  std::shared_ptr<const SessionTicketKey> share =
      DigestOf(new_bundle).digest == bundle_digest ? ticket_key : nullptr;
  return Build(bssl::UniquePtr<EVP_PKEY>(key.get()), pki::CopyChain(chain), std::move(new_bundle),
               std::move(new_revocations), std::move(share));
}

}  // namespace tether::proxy
