// Revocation: whether a verified certificate (its leaf's serial and SPIFFE
// ID) is named by a pushed revocation list, and the sentence that says so.
//
//   RevokedBy by = CheckRevoked(revocations, conn.tls.peer_serial, conn.tls.peer.ToString());
//   if (by != RevokedBy::kNone) Close(..., DescribeRevoked("peer", by, serial, id));
//
// Used for the certificates of open connections' peers (closed when revoked)
// and for the proxy's own certificate (withdrawn when revoked). Only the
// leaf matters: the CA revokes the certificates it issued, by serial, or a
// whole identity.
#ifndef TETHER_PROXY_TLS_REVOCATION_H_
#define TETHER_PROXY_TLS_REVOCATION_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/pki/verify.h"

namespace tether::proxy {

enum class RevokedBy {
  kNone,
  kSerial,    // the certificate's serial is listed
  kIdentity,  // its SPIFFE ID is listed (every certificate of it)
};

// CheckRevoked: kSerial if `serial_hex` is listed, else kIdentity if
// `spiffe_id` is, else kNone. An empty serial or ID never matches.
RevokedBy CheckRevoked(const pki::Revocations& revocations, absl::string_view serial_hex,
                       absl::string_view spiffe_id);

// DescribeRevoked: "<whose> certificate <serial> of <spiffe id> was revoked
// (its serial|its identity is on the revocation list)".
std::string DescribeRevoked(absl::string_view whose, RevokedBy by, absl::string_view serial_hex,
                            absl::string_view spiffe_id);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_REVOCATION_H_
