#include "control/ca/certificate_auth.h"

#include <string>
#include <vector>

#include <grpc/grpc_security_constants.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "common/pki/certs.h"
#include "common/pki/verify.h"

namespace tether::control {

absl::StatusOr<pki::VerifiedPeer> AuthenticateByCertificate(const grpc::AuthContext* auth,
                                                            const CaSnapshot& ca,
                                                            const RevocationSnapshot& revoked,
                                                            absl::Time now) {
  std::vector<grpc::string_ref> leaf_pem, chain_pem;
  if (auth != nullptr) {
    leaf_pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    chain_pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
  }
  if (leaf_pem.empty()) {
    return absl::UnauthenticatedError(
        "no credential: send a join token or Kubernetes token in Hello, or connect with a "
        "mesh certificate");
  }
  auto leaf = pki::CertsFromPem(absl::string_view(leaf_pem[0].data(), leaf_pem[0].size()));
  if (!leaf.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("client certificate: ", leaf.status().message()));
  }
  // gRPC's chain property holds the presented certificates in no promised
  // order (and may include the leaf): keep the intermediates only; roots
  // come from our own bundle.
  pki::CertChain chain;
  chain.push_back(std::move(leaf->front()));
  if (!chain_pem.empty()) {
    auto others = pki::CertsFromPem(absl::string_view(chain_pem[0].data(), chain_pem[0].size()));
    if (others.ok()) {
      for (auto& c : *others) {
        if (X509_cmp(c.get(), chain.front().get()) == 0) continue;
        if (X509_check_issued(c.get(), c.get()) == X509_V_OK) continue;
        chain.push_back(std::move(c));
      }
    }
  }
  std::vector<X509*> raw;
  for (auto& c : chain) raw.push_back(c.get());
  absl::StatusOr<pki::VerifiedPeer> peer = pki::VerifyChain(raw, ca.bundle, now, revoked.revoked,
                                                            pki::Purpose::kClient, ca.trust_domain);
  if (!peer.ok()) {
    absl::StatusCode code = pki::ReasonOf(peer.status()) == "revoked"
                                ? absl::StatusCode::kPermissionDenied
                                : absl::StatusCode::kUnauthenticated;
    return absl::Status(code, absl::StrCat("client certificate: ", peer.status().message()));
  }
  return peer;
}

}  // namespace tether::control
