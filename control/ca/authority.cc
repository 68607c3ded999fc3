#include "control/ca/authority.h"

#include <algorithm>

#include <openssl/rand.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/pki/csr.h"

namespace tether::control {
namespace {

constexpr char kCaErrorPayload[] = "type.tether.io/CaError";

}  // namespace

absl::string_view ReasonWord(CaError error) {
  switch (error) {
    case CaError::kMalformedCsr:
      return "malformed_csr";
    case CaError::kBadSignature:
      return "bad_signature";
    case CaError::kWeakKey:
      return "weak_key";
    case CaError::kIdentityMismatch:
      return "identity_mismatch";
    case CaError::kRevoked:
      return "revoked";
    case CaError::kRateLimited:
      return "rate_limited";
    case CaError::kInternal:
      return "internal";
  }
  return "internal";
}

absl::Status CaErrorStatus(CaError error, absl::string_view message) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  switch (error) {
    case CaError::kMalformedCsr:
    case CaError::kBadSignature:
    case CaError::kWeakKey:
      code = absl::StatusCode::kInvalidArgument;
      break;
    case CaError::kIdentityMismatch:
    case CaError::kRevoked:
      code = absl::StatusCode::kPermissionDenied;
      break;
    case CaError::kRateLimited:
      code = absl::StatusCode::kResourceExhausted;
      break;
    case CaError::kInternal:
      break;
  }
  absl::Status st(code, absl::StrCat(ReasonWord(error), ": ", message));
  st.SetPayload(kCaErrorPayload, absl::Cord(ReasonWord(error)));
  return st;
}

std::string CaReasonOf(const absl::Status& status) {
  // The payload, never the message: a message is for people and may change.
  const auto word = status.GetPayload(kCaErrorPayload);
  if (!word.has_value()) return "internal";
  for (CaError e : {CaError::kMalformedCsr, CaError::kBadSignature, CaError::kWeakKey,
                    CaError::kIdentityMismatch, CaError::kRevoked, CaError::kRateLimited}) {
    if (*word == ReasonWord(e)) return std::string(ReasonWord(e));
  }
  return "internal";
}

absl::Time RenewAfter(absl::Time issued, absl::Time not_after, double jitter01) {
  absl::Duration life = not_after - issued;
  return issued + life / 2 + life * (0.1 * std::clamp(jitter01, 0.0, 1.0));
}

CertificateAuthority::CertificateAuthority(CaStore* store, CertificateRegistry* registry,
                                           AuditLog* audit, const Clock* clock,
                                           AuthorityOptions options)
    : store_(store),
      registry_(registry),
      audit_(audit),
      clock_(clock),
      options_(options),
      instance_limiter_(clock, options.requests_per_minute, options.burst),
      identity_limiter_(clock, options.identity_requests_per_minute, options.identity_burst) {}

absl::StatusOr<Issued> CertificateAuthority::Sign(const pki::SpiffeId& authenticated,
                                                  absl::string_view instance,
                                                  absl::string_view csr_der,
                                                  absl::Duration requested_ttl,
                                                  absl::string_view peer) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Issued> out = SignUnobserved(authenticated, instance, csr_der, requested_ttl);
  const absl::Duration latency = absl::Now() - start;
  if (out.ok()) {
    audit_->Record("issued", {{"spiffe_id", out->spiffe_id},
                              {"instance", std::string(instance)},
                              {"serial", out->serial_hex},
                              {"not_after", absl::ToUnixSeconds(out->not_after)},
                              {"peer", std::string(peer)}});
  } else if (rejections_ != nullptr) {
    // A client refused in a loop (rate_limited above all) would otherwise
    // write one line per request.
    rejections_->Record("spiffe_id", authenticated.ToString(), "rejected",
                        {{"reason", CaReasonOf(out.status())},
                         {"message", std::string(out.status().message())},
                         {"peer", std::string(peer)}});
  } else {
    audit_->Record("rejected", {{"spiffe_id", authenticated.ToString()},
                                {"reason", CaReasonOf(out.status())},
                                {"message", std::string(out.status().message())},
                                {"peer", std::string(peer)}});
  }
  if (observer_) observer_(out.ok() ? "issued" : CaReasonOf(out.status()), latency);
  return out;
}

absl::Status CertificateAuthority::Admit(const std::string& id, absl::string_view instance) {
  // The instance first: a replica refused by its own bucket must not drain
  // the identity's, which its siblings share.
  if (!instance_limiter_.Allow(absl::StrCat(id, " ", instance))) {
    return CaErrorStatus(CaError::kRateLimited,
                         absl::StrCat("too many certificate requests from ", instance, " of ", id,
                                      " (--rate-limit, per workload instance); retry later"));
  }
  if (!identity_limiter_.Allow(id)) {
    return CaErrorStatus(CaError::kRateLimited,
                         absl::StrCat("too many certificate requests for ", id,
                                      " from all its instances (--identity-rate-limit); retry "
                                      "later"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Issued> CertificateAuthority::SignUnobserved(const pki::SpiffeId& authenticated,
                                                            absl::string_view instance,
                                                            absl::string_view csr_der,
                                                            absl::Duration requested_ttl) {
  if (absl::Status admitted = Admit(authenticated.ToString(), instance); !admitted.ok()) {
    return admitted;
  }
  absl::StatusOr<pki::ParsedCsr> csr = pki::ParseCsr(csr_der);
  if (!csr.ok()) {
    CaError err = CaError::kMalformedCsr;
    switch (pki::CsrErrorOf(csr.status())) {
      case pki::CsrError::kBadSignature:
        err = CaError::kBadSignature;
        break;
      case pki::CsrError::kWeakKey:
        err = CaError::kWeakKey;
        break;
      case pki::CsrError::kMalformed:
        break;
    }
    return CaErrorStatus(err, csr.status().message());
  }
  if (csr->spiffe_id != authenticated) {
    return CaErrorStatus(
        CaError::kIdentityMismatch,
        absl::StrCat("the CSR asks for ", csr->spiffe_id.ToString(),
                     " but the stream is authenticated as ", authenticated.ToString()));
  }
  std::shared_ptr<const RevocationSnapshot> revoked = registry_->Revocations();
  if (revoked->revoked.spiffe_ids.contains(authenticated.ToString())) {
    return CaErrorStatus(CaError::kRevoked, absl::StrCat(authenticated.ToString(), " is revoked"));
  }
  std::shared_ptr<const CaSnapshot> ca = store_->Current();
  if (authenticated.trust_domain != ca->trust_domain) {
    return CaErrorStatus(CaError::kIdentityMismatch,
                         absl::StrCat("this CA serves trust domain ", ca->trust_domain));
  }
  absl::Duration ttl = requested_ttl <= absl::ZeroDuration() ? options_.default_ttl : requested_ttl;
  ttl = std::clamp(ttl, absl::Minutes(1), std::max(absl::Minutes(1), options_.default_ttl));
  pki::LeafRequest req;
  req.public_key = csr->public_key.get();
  req.spiffe_id = csr->spiffe_id;
  req.now = clock_->Now();
  req.ttl = ttl;
  absl::StatusOr<bssl::UniquePtr<X509>> leaf = ca->issuer->SignLeaf(req);
  if (!leaf.ok()) return CaErrorStatus(CaError::kInternal, leaf.status().message());

  pki::CertInfo info = pki::DescribeCert(leaf->get());
  Issued issued;
  issued.serial_hex = info.serial_hex;
  issued.spiffe_id = authenticated.ToString();
  issued.not_before = info.not_before;
  issued.not_after = info.not_after;
  uint32_t r;
  RAND_bytes(reinterpret_cast<uint8_t*>(&r), sizeof(r));
  // From the issuance, not the backdated NotBefore: a 1-minute certificate
  // is renewed after about 30 s, not at once.
  issued.renew_after = RenewAfter(req.now, info.not_after, r / 4294967296.0);
  issued.chain = ca->issuer->ChainFor(leaf->get());

  IssuedRecord rec{issued.serial_hex,
                   issued.spiffe_id,
                   issued.not_before,
                   issued.not_after,
                   pki::SerialHex(ca->issuer->authority().cert.get()),
                   std::string(instance)};
  if (absl::Status st = registry_->RecordIssued(rec); !st.ok()) {
    // Unrecorded means unrevocable: do not hand it out.
    return CaErrorStatus(CaError::kInternal, st.message());
  }
  return issued;
}

}  // namespace tether::control
