// x509_util: small BoringSSL helpers shared by the pki libraries. Private to
// //common/pki; not an API.
#ifndef TETHER_COMMON_PKI_INTERNAL_X509_UTIL_H_
#define TETHER_COMMON_PKI_INTERNAL_X509_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/digest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/time/time.h"

namespace tether::pki::internal {

// The BoringSSL API of this version takes many logically-const arguments by
// non-const pointer (it caches parsed extensions inside the X509 under a lock).
inline X509* Mut(const X509* x) { return const_cast<X509*>(x); }
inline EVP_PKEY* Mut(const EVP_PKEY* k) { return const_cast<EVP_PKEY*>(k); }

// TimeFromAsn1 converts a UTCTime or GeneralizedTime; nullopt if malformed.
std::optional<absl::Time> TimeFromAsn1(const ASN1_TIME* t);

// Asn1FromTime converts `t` (whole seconds, rounded down) to UTCTime when it
// fits and GeneralizedTime otherwise; nullptr if out of range (years 0..9999).
bssl::UniquePtr<ASN1_TIME> Asn1FromTime(absl::Time t);

// MaxX509Time returns 9999-12-31T23:59:59Z, RFC 5280's "no expiration" value.
absl::Time MaxX509Time();

// FormatTime renders `t` as RFC 3339 in UTC, for messages.
std::string FormatTime(absl::Time t);

// RandomSerial returns a positive, non-zero serial of 127 random bits (the top
// bit of 16 random bytes is cleared, so the DER INTEGER is at most 16 bytes).
// nullptr if the random generator or allocation fails.
bssl::UniquePtr<ASN1_INTEGER> RandomSerial();

// DigestFor returns the signature digest for `key`: SHA-384 for P-384, SHA-512
// for P-521, SHA-256 otherwise (P-256, RSA). Ed25519 signs without a digest and
// gets nullptr.
const EVP_MD* DigestFor(const EVP_PKEY* key);

// TakeErrors empties BoringSSL's thread-local error queue and returns what it
// held, e.g. "X509 routines:ASN1_lib", or "no detail" if it was empty.
std::string TakeErrors();

// BioContents returns what was written to a memory BIO.
std::string BioContents(BIO* bio);

// NameToString renders `name` on one line in RFC 2253 form, e.g.
// "CN=Tether root CA mesh.local,O=Tether" (empty on error).
std::string NameToString(const X509_NAME* name);

// Sans is a certificate's or request's subjectAltName split by kind.
struct Sans {
  std::vector<std::string> uris;
  std::vector<std::string> dns_names;
  int ip_addresses = 0;
  int emails = 0;
  int others = 0;  // directoryName, otherName, registeredID, ...
};

// ReadSans copies the names of `names` (may be null: no names).
Sans ReadSans(const GENERAL_NAMES* names);

// KeyId returns the SHA-1 of the subjectPublicKey BIT STRING of `cert`
// (RFC 5280 4.2.1.2, method 1), used for subject and authority key IDs.
std::string KeyId(const X509* cert);

}  // namespace tether::pki::internal

#endif  // TETHER_COMMON_PKI_INTERNAL_X509_UTIL_H_
