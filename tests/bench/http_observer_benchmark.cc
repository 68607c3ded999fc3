// http_observer_benchmark: what Http1Observer costs per request, in
// process: a keep-alive request and its 1 KB response (as wrk sends and
// nginx answers in `make bench`), fed as a relay hands them over.
//
//   bazel run -c opt //tests/bench:http_observer_benchmark
#include <string>

#include <benchmark/benchmark.h>

#include "common/clock.h"
#include "proxy/http/http1_observer.h"
#include "proxy/http/route_template.h"

namespace tether::proxy {
namespace {

const std::string kRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const std::string kResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 13:00:00 GMT\r\n"
    "Content-Type: application/octet-stream\r\nContent-Length: 1024\r\nConnection: "
    "keep-alive\r\n\r\n" +
    std::string(1024, 'x');

void BM_RequestAndResponse(benchmark::State& state) {
  WorkerHttpStats table(100);
  Http1Observer::Options o;
  o.peer = [] { return std::string("spiffe://mesh.local/ns/bench/sa/client"); };
  o.clock = RealClock::Default();
  o.stats = &table;
  Http1Observer obs(o);
  const auto req = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kRequest.data()),
                                       kRequest.size());
  const auto resp = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kResponse.data()),
                                        kResponse.size());
  for (auto _ : state) {
    obs.OnData(true, req);
    obs.OnData(false, resp);
  }
  if (obs.responses() != static_cast<uint64_t>(state.iterations())) state.SkipWithError("lost");
}
BENCHMARK(BM_RequestAndResponse);

void BM_RouteTemplate(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(RouteTemplate("GET", "/users/1234/orders?x=1"));
}
BENCHMARK(BM_RouteTemplate);

void BM_Find(benchmark::State& state) {
  WorkerHttpStats table(100);
  for (auto _ : state) {
    benchmark::DoNotOptimize(table.Find(true, "spiffe://mesh.local/ns/bench/sa/client", "GET /"));
  }
}
BENCHMARK(BM_Find);

}  // namespace
}  // namespace tether::proxy

BENCHMARK_MAIN();
