// RevocationState: the revocation list as the CA keeps and shares it, with
// its JSON form and the merge that lets several replicas agree on it.
//
//   absl::StatusOr<RevocationState> s = DecodeRevocations(text, "revocations.json");
//   RevocationState both = UnionOfRevocations(mine, theirs, clock->Now());
//   std::string text = EncodeRevocations(both);
//
// Nothing is ever taken off the list but a serial whose certificate expired
// (it can authenticate nothing any more), so the union of two lists is
// always correct: a replica that merges what another wrote can only learn
// revocations, never forget one. `version` orders lists: a later list has a
// larger version (NextRevocationVersion).
//
// The JSON form, shared by <state-dir>/revocations.json and the
// Kubernetes ConfigMap (kubernetes/revocation_configmap.h):
//   {"version": 1796810000, "serials": {"9f3a...": <expiry, unix s>, ...},
//    "spiffe_ids": ["spiffe://td/ns/shop/sa/cart", ...]}
#ifndef TETHER_CONTROL_CA_REVOCATION_STATE_H_
#define TETHER_CONTROL_CA_REVOCATION_STATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/verify.h"

namespace tether::control {

struct RevocationState {
  std::map<std::string, absl::Time, std::less<>> serials;  // lowercase hex serial -> expiry
  std::set<std::string, std::less<>> spiffe_ids;           // canonical SPIFFE IDs
  uint64_t version = 0;

  // SameEntries: the same serials (with the same expiries) and identities,
  // whatever the versions.
  bool SameEntries(const RevocationState& other) const {
    return serials == other.serials && spiffe_ids == other.spiffe_ids;
  }
  pki::Revocations ToRevocations() const;
};

// EncodeRevocations: the JSON form above, one line per field, sorted.
std::string EncodeRevocations(const RevocationState& state);

// DecodeRevocations parses the JSON form: DataLoss naming `where` when it is
// not JSON or not of that shape, when a serial is not lowercase hex of at
// most 40 digits, or an identity is not a SPIFFE ID.
absl::StatusOr<RevocationState> DecodeRevocations(absl::string_view text, absl::string_view where);

// UnionOfRevocations holds every entry of both (a serial listed twice keeps
// the later expiry), without the serials expired at `now`, and the larger
// of the two versions.
RevocationState UnionOfRevocations(const RevocationState& a, const RevocationState& b,
                                   absl::Time now);

// DropExpiredSerials removes the serials expired at `now`; true if any was.
bool DropExpiredSerials(RevocationState& state, absl::Time now);

// NextRevocationVersion is the version of the list that follows one at
// `current`: one more, or the wall clock's Unix seconds when that is
// larger, so that a control plane that lost its state (a fresh volume)
// still numbers past every list its proxies hold.
uint64_t NextRevocationVersion(uint64_t current, absl::Time now);

// IsSerialHex: 1 to 40 lowercase hex digits (a DER serial is at most 20
// bytes).
bool IsSerialHex(absl::string_view serial);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_REVOCATION_STATE_H_
