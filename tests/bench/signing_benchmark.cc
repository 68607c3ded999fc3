// signing_benchmark: the CA's per-request cost (parse and check a CSR, sign a
// leaf) and the proxy's (generate a key, make a CSR).
//
//   bazel run //tests/bench:signing_benchmark
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/pki/csr.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"

namespace tether::pki {
namespace {

template <typename T>
T Must(absl::StatusOr<T> v) {
  if (!v.ok()) {
    (void)std::fprintf(stderr, "signing_benchmark: %s\n", v.status().ToString().c_str());
    std::abort();
  }
  return *std::move(v);
}

const SpiffeId& Id() {
  static const SpiffeId* id =
      new SpiffeId(Must(SpiffeId::Parse("spiffe://mesh.local/ns/shop/sa/cart")));
  return *id;
}

void BM_SignLeaf(benchmark::State& state) {
  absl::Time now = absl::Now();
  Authority authority;
  authority.key = Must(GenerateP256Key());
  authority.cert = Must(CreateRootCa(authority.key.get(), "mesh.local", now, absl::Hours(24)));
  Issuer issuer(std::move(authority));
  bssl::UniquePtr<EVP_PKEY> key = Must(GenerateP256Key());
  std::string csr = Must(CreateCsr(key.get(), Id()));
  for ([[maybe_unused]] auto _ : state) {
    ParsedCsr parsed = Must(ParseCsr(csr));
    bssl::UniquePtr<X509> leaf = Must(issuer.SignLeaf(
        {.public_key = parsed.public_key.get(), .spiffe_id = parsed.spiffe_id, .now = now}));
    benchmark::DoNotOptimize(leaf);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignLeaf);

void BM_GenerateKey(benchmark::State& state) {
  for ([[maybe_unused]] auto _ : state) {
    bssl::UniquePtr<EVP_PKEY> key = Must(GenerateP256Key());
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GenerateKey);

void BM_CreateCsr(benchmark::State& state) {
  bssl::UniquePtr<EVP_PKEY> key = Must(GenerateP256Key());
  for ([[maybe_unused]] auto _ : state) {
    std::string csr = Must(CreateCsr(key.get(), Id()));
    benchmark::DoNotOptimize(csr);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CreateCsr);

}  // namespace
}  // namespace tether::pki
