// IdentitySnapshot: everything a worker needs to run mTLS for one identity,
// immutable once built: the key and certificate chain, the trust bundle, the
// revocations, and the BoringSSL contexts made from them.
//
//   auto snap = IdentitySnapshot::Build(std::move(key), std::move(chain), bundle, revoked);
//   identity_manager publishes it; each new connection takes the current
//   snapshot and keeps a reference for its whole life, so a rotation never
//   touches connections already open.
#ifndef TETHER_PROXY_TLS_IDENTITY_SNAPSHOT_H_
#define TETHER_PROXY_TLS_IDENTITY_SNAPSHOT_H_

#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/pki/certs.h"
#include "common/pki/spiffe_id.h"
#include "common/pki/verify.h"
#include "proxy/tls/session_ticket.h"

namespace tether::proxy {

struct IdentitySnapshot {
  pki::SpiffeId spiffe_id;
  std::string serial_hex;
  absl::Time not_before;
  absl::Time not_after;
  bssl::UniquePtr<EVP_PKEY> key;
  pki::CertChain chain;  // leaf first, then intermediates
  pki::TrustBundle bundle;
  // SHA-256 of the bundle's roots, and when every one of them is valid: what
  // VerifiedPeerCache keys and bounds its entries with.
  std::string bundle_digest;
  absl::Time roots_valid_from = absl::InfinitePast();
  absl::Time roots_valid_until = absl::InfiniteFuture();
  pki::Revocations revocations;
  // Names this certificate and bundle together: sessions made with other
  // credentials are not offered (see session_cache.h).
  std::string credentials_id;
  // Seals the tickets server_ctx issues (see session_ticket.h). Shared by
  // the snapshots WithTrust makes from this one while the bundle is the same,
  // so a revocation push does not cost every client a full handshake.
  std::shared_ptr<const SessionTicketKey> ticket_key;
  // TLS 1.3 only, ALPN "tether", the chain and key loaded, peer
  // verification through VerifyPeer (see tls_transport.h).
  bssl::UniquePtr<SSL_CTX> server_ctx;  // requires a client certificate
  bssl::UniquePtr<SSL_CTX> client_ctx;

  // Build checks that `key` matches the leaf and that the leaf carries a
  // SPIFFE ID, then makes the contexts. InvalidArgument on a mismatch.
  // `ticket_key` null: a new one.
  static absl::StatusOr<std::shared_ptr<const IdentitySnapshot>> Build(
      bssl::UniquePtr<EVP_PKEY> key, pki::CertChain chain, pki::TrustBundle bundle,
      pki::Revocations revocations, std::shared_ptr<const SessionTicketKey> ticket_key = nullptr);

  // WithTrust returns a copy using a new bundle and revocations (the same
  // key and chain): what a pushed bundle or revocation list produces.
  absl::StatusOr<std::shared_ptr<const IdentitySnapshot>> WithTrust(
      pki::TrustBundle bundle, pki::Revocations revocations) const;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_IDENTITY_SNAPSHOT_H_
