// mesh_cert: gets a mesh certificate from a running tether-control over the
// certificate stream, as a proxy does, and writes it as PEM files, so that
// HAProxy, nginx and stunnel in the side-by-side benchmark present and verify
// the same ECDSA P-256 chain as tether-proxy. Optionally measures how fast
// the control plane signs.
//
//   mesh_cert --control 127.0.0.1:15012 --ca-bundle roots.pem --join-token-file peer.token
//       --key-out peer.key --chain-out peer.crt
//   mesh_cert ... --sign 2000   # then 2000 more CSRs on the same stream, timed
//
// The key is made here (P-256) and written with mode 0600. With --sign N the
// CSRs are made first, then all sent at once and the answers read; it prints
// `{"certificates": N, "seconds": S, "per_second": R}` (the control plane's
// per-identity rate limit must allow it: tether-control --rate-limit).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/pki/certs.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"
#include "tests/control/ca_test_client.h"

ABSL_FLAG(std::string, control, "127.0.0.1:15012", "tether-control's certificate stream");
ABSL_FLAG(std::string, ca_bundle, "", "PEM trust bundle (tetherctl ca bundle)");
ABSL_FLAG(std::string, join_token_file, "", "a join token for the identity to certify");
ABSL_FLAG(std::string, key_out, "", "where to write the private key (PEM, PKCS#8)");
ABSL_FLAG(std::string, chain_out, "", "where to write the certificate chain (PEM, leaf first)");
ABSL_FLAG(int64_t, ttl_seconds, 0, "requested lifetime (0: the CA's default)");
ABSL_FLAG(int, sign, 0, "then sign this many more CSRs on the stream and report the rate");

namespace {

int Fail(const std::string& why) {
  fprintf(stderr, "mesh_cert: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  tether::ParseCommandLineWithDashes(argc, argv);
  using tether::testing::CaTestClient;
  std::vector<std::string> hp = absl::StrSplit(absl::GetFlag(FLAGS_control), ':');
  int port = 0;
  if (hp.size() != 2 || !absl::SimpleAtoi(hp[1], &port)) return Fail("--control HOST:PORT");
  auto roots = tether::ReadFile(absl::GetFlag(FLAGS_ca_bundle), 1 << 20);
  if (!roots.ok()) return Fail(std::string(roots.status().message()));
  auto token = tether::ReadFile(absl::GetFlag(FLAGS_join_token_file), 4096);
  if (!token.ok()) return Fail(std::string(token.status().message()));
  std::string tok(absl::StripAsciiWhitespace(*token));

  CaTestClient client(port, *roots);
  if (!client.SendHello(tok)) return Fail("the stream closed at Hello");
  absl::StatusOr<std::string> id_str = client.ReadWelcome();
  if (!id_str.ok()) return Fail(std::string(id_str.status().ToString()));
  absl::StatusOr<tether::pki::SpiffeId> id = tether::pki::SpiffeId::Parse(*id_str);
  if (!id.ok()) return Fail(std::string(id.status().message()));

  auto key = tether::pki::GenerateP256Key();
  if (!key.ok()) return Fail(std::string(key.status().message()));
  auto csr = tether::pki::CreateCsr(key->get(), *id);
  if (!csr.ok()) return Fail(std::string(csr.status().message()));
  if (!client.SendCsr(1, *csr, absl::GetFlag(FLAGS_ttl_seconds))) return Fail("CSR not sent");
  std::string chain_pem;
  for (;;) {
    auto resp = client.Read();
    if (!resp) return Fail("the stream ended before the certificate");
    if (resp->has_rejected()) return Fail("refused: " + resp->rejected().message());
    if (!resp->has_certificate()) continue;  // a pushed bundle or revocation list
    for (const std::string& der : resp->certificate().chain_der()) {
      auto cert = tether::pki::CertFromDer(der);
      if (!cert.ok()) return Fail("a certificate in the chain does not parse");
      chain_pem += tether::pki::CertToPem(cert->get());
    }
    break;
  }
  if (!absl::GetFlag(FLAGS_key_out).empty()) {
    absl::Status st = tether::WriteFileAtomic(absl::GetFlag(FLAGS_key_out),
                                              tether::pki::PrivateKeyToPem(key->get()), 0600);
    if (!st.ok()) return Fail(std::string(st.message()));
  }
  if (!absl::GetFlag(FLAGS_chain_out).empty()) {
    absl::Status st = tether::WriteFileAtomic(absl::GetFlag(FLAGS_chain_out), chain_pem);
    if (!st.ok()) return Fail(std::string(st.message()));
  }

  const int n = absl::GetFlag(FLAGS_sign);
  if (n > 0) {
    std::vector<std::string> csrs;
    for (int i = 0; i < n; ++i) {
      auto k = tether::pki::GenerateP256Key();
      auto c = tether::pki::CreateCsr(k->get(), *id);
      if (!c.ok()) return Fail("CSR");
      csrs.push_back(*c);
    }
    const absl::Time start = absl::Now();
    for (int i = 0; i < n; ++i) {
      if (!client.SendCsr(static_cast<uint64_t>(i + 2), csrs[i])) return Fail("CSR not sent");
    }
    int issued = 0;
    int rejected = 0;
    while (issued + rejected < n) {
      auto resp = client.Read();
      if (!resp) return Fail("the stream ended while signing");
      if (resp->has_certificate()) ++issued;
      if (resp->has_rejected()) ++rejected;
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    printf("{\"certificates\": %d, \"rejected\": %d, \"seconds\": %.3f, \"per_second\": %.1f}\n",
           issued, rejected, secs, issued / secs);
  }
  client.Finish();
  return 0;
}
