// handshake_benchmark: the CPU cost of tether-proxy's mTLS handshakes, both
// sides in one thread over a socket pair (so a result is the pair's cost, as
// in the side-by-side benchmark, where both proxies share a core).
//
//   bazel run -c opt //tests/bench:handshake_benchmark
//
// BM_FullHandshake/0 uses X25519 for the key exchange, /1 P-256; both sign
// and verify with the mesh's ECDSA P-256 certificates. BM_ResumedHandshake
// resumes a session from the client's TlsSessionCache (PSK + X25519).
#include <benchmark/benchmark.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/pki/spiffe_id.h"
#include "proxy/net/socket.h"
#include "proxy/tls/peer_cache.h"
#include "proxy/tls/session_cache.h"
#include "proxy/tls/tls_transport.h"
#include "tests/proxy/testing/test_mesh.h"

namespace tether::proxy {
namespace {

struct Pair {
  std::shared_ptr<const IdentitySnapshot> client;
  std::shared_ptr<const IdentitySnapshot> server;
};

Pair MakePair(const char* groups) {
  static testing::TestMesh mesh("mesh.bench", absl::Now());
  Pair p{mesh.Snapshot("a", absl::Hours(1)), mesh.Snapshot("b", absl::Hours(1))};
  for (SSL_CTX* ctx : {p.client->client_ctx.get(), p.server->server_ctx.get()}) {
    SSL_CTX_set1_curves_list(ctx, groups);
  }
  return p;
}

// Handshake runs one connection; with `peers`, each side keeps the chains it
// verified, as a worker does (peers[0] the client's, peers[1] the server's).
bool Handshake(const Pair& p, TlsSessionCache* cache, bool* resumed,
               VerifiedPeerCache* peers = nullptr) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return false;
  TlsTransport::Options c;
  c.role = TlsTransport::Role::kClient;
  c.identity = p.client;
  c.clock = RealClock::Default();
  c.expected_peer = *pki::SpiffeId::Parse("spiffe://mesh.bench/ns/shop/sa/b");
  c.session_cache = cache;
  static const std::string* const kKey = new std::string("127.0.0.1:15006");
  c.session_key = *kKey;
  c.peer_cache = peers != nullptr ? &peers[0] : nullptr;
  TlsTransport::Options s;
  s.role = TlsTransport::Role::kServer;
  s.identity = p.server;
  s.clock = RealClock::Default();
  s.peer_cache = peers != nullptr ? &peers[1] : nullptr;
  TlsTransport client(UniqueFd(fds[0]), std::move(c));
  TlsTransport server(UniqueFd(fds[1]), std::move(s));
  if (!testing::HandshakeOverPair(client, server)) return false;
  *resumed = client.resumed();
  if (cache != nullptr) {
    // The tickets come after the handshake: let the client read them.
    const uint8_t byte = 1;
    size_t n = 0;
    uint8_t buf[8];
    server.Write(&byte, 1, &n);
    for (int i = 0; i < 4 && client.Read(buf, sizeof(buf), &n) != IoStatus::kOk; ++i) {
    }
  }
  return true;
}

// /0: X25519, /1: P-256 for the key exchange; /2: X25519 with each side's
// VerifiedPeerCache, as tether-proxy runs.
void BM_FullHandshake(benchmark::State& state) {
  Pair p = MakePair(state.range(0) == 1 ? "P-256" : "X25519");
  VerifiedPeerCache peers[2];
  bool resumed = false;
  for (auto _ : state) {
    if (!Handshake(p, nullptr, &resumed, state.range(0) == 2 ? peers : nullptr)) {
      state.SkipWithError("handshake failed");
    }
  }
  state.SetLabel(state.range(0) == 0   ? "X25519"
                 : state.range(0) == 1 ? "P-256"
                                       : "X25519, peer cache");
}
BENCHMARK(BM_FullHandshake)->Arg(0)->Arg(1)->Arg(2);

void BM_ResumedHandshake(benchmark::State& state) {
  Pair p = MakePair("X25519");
  TlsSessionCache cache;
  VerifiedPeerCache peers[2];
  bool resumed = false;
  Handshake(p, &cache, &resumed, peers);
  int64_t n = 0;
  for (auto _ : state) {
    if (!Handshake(p, &cache, &resumed, peers)) state.SkipWithError("handshake failed");
    n += resumed ? 1 : 0;
  }
  state.counters["resumed"] =
      benchmark::Counter(static_cast<double>(n) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_ResumedHandshake);

}  // namespace
}  // namespace tether::proxy

BENCHMARK_MAIN();
