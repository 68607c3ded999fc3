#include "proxy/tls/revocation.h"

#include "absl/strings/str_cat.h"

namespace tether::proxy {

RevokedBy CheckRevoked(const pki::Revocations& revocations, absl::string_view serial_hex,
                       absl::string_view spiffe_id) {
  if (!serial_hex.empty() && revocations.serials.contains(serial_hex)) return RevokedBy::kSerial;
  if (!spiffe_id.empty() && revocations.spiffe_ids.contains(spiffe_id)) {
    return RevokedBy::kIdentity;
  }
  return RevokedBy::kNone;
}

std::string DescribeRevoked(absl::string_view whose, RevokedBy by, absl::string_view serial_hex,
                            absl::string_view spiffe_id) {
  return absl::StrCat(whose, " certificate ", serial_hex, " of ", spiffe_id, " was revoked (",
                      by == RevokedBy::kIdentity ? "its identity" : "its serial",
                      " is on the revocation list)");
}

}  // namespace tether::proxy
