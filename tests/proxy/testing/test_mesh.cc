#include "tests/proxy/testing/test_mesh.h"

#include <cstdlib>
#include <utility>

#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"
#include "common/pki/verify.h"

namespace tether::proxy::testing {
namespace {

template <typename T>
T Must(absl::StatusOr<T> v) {
  if (!v.ok()) {
    fprintf(stderr, "TestMesh: %s\n", v.status().ToString().c_str());
    std::abort();
  }
  return *std::move(v);
}

}  // namespace

TestMesh::TestMesh(std::string trust_domain, absl::Time now)
    : trust_domain_(std::move(trust_domain)), now_(now) {
  pki::Authority authority;
  authority.key = Must(pki::GenerateP256Key());
  authority.cert =
      Must(pki::CreateRootCa(authority.key.get(), trust_domain_, now_, absl::Hours(24)));
  X509_up_ref(authority.cert.get());
  roots_.emplace_back(authority.cert.get());
  issuer_ = std::make_unique<pki::Issuer>(std::move(authority));
}

std::shared_ptr<const IdentitySnapshot> TestMesh::SnapshotAt(const std::string& sa,
                                                             absl::Time from,
                                                             absl::Duration ttl) const {
  return Issue(sa, from, ttl, {});
}

std::shared_ptr<const IdentitySnapshot> TestMesh::Snapshot(const std::string& sa,
                                                           absl::Duration ttl,
                                                           pki::Revocations revocations) const {
  return Issue(sa, now_, ttl, std::move(revocations));
}

std::shared_ptr<const IdentitySnapshot> TestMesh::Issue(const std::string& sa, absl::Time from,
                                                        absl::Duration ttl,
                                                        pki::Revocations revocations) const {
  bssl::UniquePtr<EVP_PKEY> key = Must(pki::GenerateP256Key());
  pki::LeafRequest req;
  req.public_key = key.get();
  req.spiffe_id = Must(pki::SpiffeId::Make(trust_domain_, "shop", sa));
  req.now = from;
  req.ttl = ttl;
  pki::CertChain chain;
  chain.push_back(Must(issuer_->SignLeaf(req)));
  return Must(IdentitySnapshot::Build(std::move(key), std::move(chain),
                                      Must(pki::TrustBundle::FromCerts(pki::CopyChain(roots_))),
                                      std::move(revocations)));
}

bool HandshakeOverPair(TlsTransport& client, TlsTransport& server) {
  IoStatus cs = IoStatus::kWouldBlock;
  IoStatus ss = IoStatus::kWouldBlock;
  for (int i = 0; i < 20 && (cs == IoStatus::kWouldBlock || ss == IoStatus::kWouldBlock); ++i) {
    if (cs == IoStatus::kWouldBlock) cs = client.Handshake();
    if (ss == IoStatus::kWouldBlock) ss = server.Handshake();
  }
  return cs == IoStatus::kOk && ss == IoStatus::kOk;
}

}  // namespace tether::proxy::testing
