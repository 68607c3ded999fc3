#include "common/pki/verify.h"

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/certs.h"
#include "common/pki/internal/x509_util.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {
namespace {

constexpr absl::string_view kReasons[] = {
    "untrusted", "expired",  "not_yet_valid",  "revoked",
    "bad_usage", "weak_key", "chain_too_long", "bad_identity",
};

absl::Status Denied(absl::string_view reason, absl::string_view detail) {
  ERR_clear_error();
  return absl::PermissionDeniedError(absl::StrCat(reason, ": ", detail));
}

std::string Describe(const X509* cert, int depth) {
  if (cert == nullptr) return absl::StrCat("certificate at depth ", depth);
  return absl::StrCat("certificate \"", internal::NameToString(X509_get_subject_name(cert)),
                      "\" (depth ", depth, ")");
}

// VerifyError turns a failed X509_verify_cert into a reason word and message.
absl::Status VerifyError(X509_STORE_CTX* ctx) {
  int err = X509_STORE_CTX_get_error(ctx);
  int depth = X509_STORE_CTX_get_error_depth(ctx);
  const X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  std::string who = Describe(cert, depth);
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED: {
      std::optional<absl::Time> t =
          cert ? internal::TimeFromAsn1(X509_get0_notAfter(cert)) : std::nullopt;
      return Denied("expired",
                    absl::StrCat(who, " expired at ", t ? internal::FormatTime(*t) : "?"));
    }
    case X509_V_ERR_CERT_NOT_YET_VALID: {
      std::optional<absl::Time> t =
          cert ? internal::TimeFromAsn1(X509_get0_notBefore(cert)) : std::nullopt;
      return Denied("not_yet_valid",
                    absl::StrCat(who, " is not valid until ", t ? internal::FormatTime(*t) : "?"));
    }
    case X509_V_ERR_CERT_REVOKED:
      return Denied("revoked", who);
    case X509_V_ERR_INVALID_PURPOSE:
      return Denied("bad_usage", absl::StrCat(who, ": ", X509_verify_cert_error_string(err)));
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
      return Denied("chain_too_long", absl::StrCat(who, ": ", X509_verify_cert_error_string(err)));
    default:
      // No issuer in the bundle, a bad signature, an intermediate that is not a
      // CA, a malformed validity field, ...
      return Denied("untrusted", absl::StrCat(who, ": ", X509_verify_cert_error_string(err)));
  }
}

bool HasEku(uint32_t xku, Purpose purpose) {
  switch (purpose) {
    case Purpose::kClient:
      return (xku & XKU_SSL_CLIENT) != 0;
    case Purpose::kServer:
      return (xku & XKU_SSL_SERVER) != 0;
    case Purpose::kAny:
      return (xku & (XKU_SSL_CLIENT | XKU_SSL_SERVER)) != 0;
  }
  return false;
}

absl::string_view EkuName(Purpose purpose) {
  switch (purpose) {
    case Purpose::kClient:
      return "clientAuth";
    case Purpose::kServer:
      return "serverAuth";
    case Purpose::kAny:
      return "serverAuth or clientAuth";
  }
  return "?";
}

}  // namespace

absl::StatusOr<TrustBundle> TrustBundle::FromPem(absl::string_view pem) {
  absl::StatusOr<CertChain> certs = CertsFromPem(pem);
  if (!certs.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("trust bundle: ", certs.status().message()));
  }
  return FromCerts(*std::move(certs));
}

absl::StatusOr<TrustBundle> TrustBundle::FromCerts(CertChain roots) {
  if (roots.empty()) return absl::InvalidArgumentError("trust bundle has no certificates");
  TrustBundle bundle;
  bundle.store_.reset(X509_STORE_new());
  if (bundle.store_ == nullptr) return absl::InternalError("out of memory");
  for (size_t i = 0; i < roots.size(); ++i) {
    X509* root = roots[i].get();
    if (root == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust bundle certificate ", i + 1, " is null"));
    }
    if ((X509_get_extension_flags(root) & EXFLAG_CA) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trust bundle certificate ", i + 1, " (",
          internal::NameToString(X509_get_subject_name(root)), ") is not a CA certificate"));
    }
    if (!X509_STORE_add_cert(bundle.store_.get(), root)) {
      return absl::InternalError(
          absl::StrCat("adding a root to the trust store failed: ", internal::TakeErrors()));
    }
  }
  bundle.roots_ = std::move(roots);
  return bundle;
}

std::string TrustBundle::ToPem() const { return ChainToPem(roots_); }

absl::StatusOr<VerifiedPeer> VerifyChain(absl::Span<X509* const> chain, const TrustBundle& bundle,
                                         absl::Time now, const Revocations& revoked,
                                         Purpose purpose, absl::string_view trust_domain) {
  if (chain.empty()) return absl::UnauthenticatedError("untrusted: no certificate presented");
  for (X509* cert : chain) {
    if (cert == nullptr) return Denied("untrusted", "null certificate in the chain");
  }
  if (chain.size() > static_cast<size_t>(kMaxChainLength)) {
    return Denied("chain_too_long",
                  absl::StrCat(chain.size(), " certificates (max ", kMaxChainLength, ")"));
  }
  if (bundle.store() == nullptr) return Denied("untrusted", "empty trust bundle");

  // Path building, signatures, CA constraints and validity, by BoringSSL.
  X509* leaf = chain.front();
  bssl::UniquePtr<STACK_OF(X509)> intermediates(sk_X509_new_null());
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (intermediates == nullptr || ctx == nullptr) return absl::InternalError("out of memory");
  for (size_t i = 1; i < chain.size(); ++i) {
    if (!sk_X509_push(intermediates.get(), chain[i])) return absl::InternalError("out of memory");
    X509_up_ref(chain[i]);
  }
  if (!X509_STORE_CTX_init(ctx.get(), bundle.store(), leaf, intermediates.get())) {
    return absl::InternalError(
        absl::StrCat("initializing verification failed: ", internal::TakeErrors()));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_USE_CHECK_TIME);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(absl::ToUnixSeconds(now)));
  if (X509_verify_cert(ctx.get()) != 1) return VerifyError(ctx.get());

  // Our own rules for the leaf.
  std::string serial = SerialHex(leaf);
  if (revoked.serials.contains(serial)) return Denied("revoked", absl::StrCat("serial ", serial));
  bssl::UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  internal::Sans sans = internal::ReadSans(names.get());
  for (const std::string& uri : sans.uris) {
    if (revoked.spiffe_ids.contains(uri)) return Denied("revoked", absl::StrCat("identity ", uri));
  }

  uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_CA) != 0) return Denied("bad_usage", "leaf certificate is a CA");
  if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
    return Denied("bad_usage", "leaf certificate lacks keyUsage digitalSignature");
  }
  if ((flags & EXFLAG_XKUSAGE) == 0 || !HasEku(X509_get_extended_key_usage(leaf), purpose)) {
    return Denied("bad_usage",
                  absl::StrCat("leaf certificate lacks extendedKeyUsage ", EkuName(purpose)));
  }

  bssl::UniquePtr<EVP_PKEY> key(X509_get_pubkey(leaf));
  if (absl::Status s = CheckKeyStrength(key.get()); !s.ok()) {
    return Denied("weak_key", absl::StrCat("leaf ", s.message()));
  }

  if (sans.uris.size() != 1) {
    return Denied("bad_identity",
                  absl::StrCat("leaf has ", sans.uris.size(), " URI SANs (need exactly one)"));
  }
  absl::StatusOr<SpiffeId> id = SpiffeId::Parse(sans.uris.front());
  if (!id.ok()) {
    return Denied("bad_identity", absl::StrCat("leaf URI SAN \"", sans.uris.front(),
                                               "\" is not a SPIFFE ID: ", id.status().message()));
  }
  if (!trust_domain.empty() && id->trust_domain != trust_domain) {
    return Denied("bad_identity", absl::StrCat("trust domain \"", id->trust_domain, "\" is not \"",
                                               trust_domain, "\""));
  }

  VerifiedPeer peer;
  peer.spiffe_id = *std::move(id);
  peer.serial_hex = std::move(serial);
  peer.not_after = internal::TimeFromAsn1(X509_get0_notAfter(leaf)).value_or(absl::InfinitePast());
  return peer;
}

std::string ReasonOf(const absl::Status& status) {
  absl::string_view message = status.message();
  size_t colon = message.find(':');
  if (status.ok() || colon == absl::string_view::npos) return "other";
  absl::string_view word = message.substr(0, colon);
  for (absl::string_view reason : kReasons) {
    if (word == reason) return std::string{reason};
  }
  return "other";
}

}  // namespace tether::pki
