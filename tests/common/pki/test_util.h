// test_util: certificate fixtures for the pki tests. Everything is generated
// in memory; nothing touches the file system or the network.
#ifndef TETHER_TESTS_COMMON_PKI_TEST_UTIL_H_
#define TETHER_TESTS_COMMON_PKI_TEST_UTIL_H_

#include <string>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/pki/issuer.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki::testing {

// kNow is a fixed instant (2030-03-17T17:46:40Z): tests never read the clock.
absl::Time Now();

// P256 generates a key or aborts the test binary.
bssl::UniquePtr<EVP_PKEY> P256();
// EcKey generates a key on curve `nid` (e.g. NID_secp384r1).
bssl::UniquePtr<EVP_PKEY> EcKey(int nid);
// Rsa generates an RSA key of `bits` with RSA_generate_key_ex.
bssl::UniquePtr<EVP_PKEY> Rsa(int bits);
// Ed25519 generates an Ed25519 key.
bssl::UniquePtr<EVP_PKEY> Ed25519();

// Id builds a SpiffeId, aborting if it is invalid.
SpiffeId Id(absl::string_view td, absl::string_view ns, absl::string_view sa);

// RootAuthority makes a self-signed root CA for `td`, valid from now-1m to
// now+ttl.
Authority RootAuthority(absl::string_view td = "mesh.local", absl::Time now = Now(),
                        absl::Duration ttl = absl::Hours(24 * 365));

// IntermediateAuthority makes a CA certificate named `cn` signed by `parent`,
// valid from now-1m to now+ttl; its chain is parent.cert followed by
// parent.chain (so it ends with the root).
Authority IntermediateAuthority(const Authority& parent, absl::string_view cn,
                                absl::Time now = Now(), absl::Duration ttl = absl::Hours(24 * 30));

// Leaf signs a leaf for a fresh P-256 key, or aborts.
bssl::UniquePtr<X509> Leaf(const Authority& authority, const SpiffeId& id, absl::Time now = Now(),
                           absl::Duration ttl = absl::Hours(1));

// Resign copies `cert`, lets `edit` change the copy, signs it with `key`
// (SHA-256) and returns it re-parsed from DER, so cached fields are fresh.
bssl::UniquePtr<X509> Resign(const X509* cert, const EVP_PKEY* key,
                             absl::FunctionRef<void(X509*)> edit);

// SetExt adds or replaces extension `nid` of `cert` with `value` (an
// i2d-able structure such as GENERAL_NAMES*); `value == nullptr` deletes it.
void SetExt(X509* cert, int nid, void* value, bool critical);

// Names builds GENERAL_NAMES from (type, value) pairs: GEN_URI, GEN_DNS and
// GEN_EMAIL take text; GEN_IPADD takes the raw address bytes.
bssl::UniquePtr<GENERAL_NAMES> Names(std::initializer_list<std::pair<int, std::string>> names);

// Der returns the DER encoding of `cert`.
std::string Der(const X509* cert);

}  // namespace tether::pki::testing

#endif  // TETHER_TESTS_COMMON_PKI_TEST_UTIL_H_
