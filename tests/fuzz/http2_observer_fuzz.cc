// http2_observer_fuzz: HttpObserver (and so Http2Observer) on arbitrary
// HTTP/2 traffic. The input is a sequence of chunks, each one byte (bit 0:
// from the client, else the server; the other bits and the next byte: the
// length) then its bytes, as a relay would hand them over; the HTTP/2
// preface is put before the client's first chunk, so that every input
// reaches the frame readers. Then the connection closes.
//
// Besides not crashing, hanging or throwing: responses never outnumber
// requests, the open streams stay within max_streams, and every route
// label is short printable ASCII.
// Seed corpus: tests/fuzz/corpus/http2_observer/ (see its README).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "common/testing/fake_clock.h"
#include "proxy/http/http_observer.h"
#include "proxy/http/route_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tether::proxy;
  tether::FakeClock clock;
  WorkerHttpStats table(8);
  Http1Observer::Options o;
  o.peer = [] { return std::string("peer"); };
  o.clock = &clock;
  o.stats = &table;
  o.max_streams = 16;
  o.max_target_bytes = 256;
  uint64_t records = 0;
  o.on_request = [&records](const HttpRequestRecord& r) {
    ++records;
    if (r.grpc_status < -1 || r.grpc_status > 16) abort();
  };
  HttpObserver obs(o);
  static const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  obs.OnData(true, {reinterpret_cast<const uint8_t*>(kPreface.data()), kPreface.size()});
  size_t i = 0;
  while (i + 2 <= size) {
    const bool from_client = (data[i] & 1) != 0;
    size_t n = ((data[i] >> 1) << 8 | data[i + 1]) % 8192;
    i += 2;
    n = std::min(n, size - i);
    obs.OnData(from_client, {data + i, n});
    clock.Advance(absl::Microseconds(data[i - 1]));
    i += n;
  }
  const Http2Observer* h2 = obs.http2();
  if (h2 == nullptr) abort();  // the preface decides
  if (h2->responses() > h2->requests()) abort();
  obs.OnClose();
  std::map<WorkerHttpStats::Key, RouteStats::Snapshot> all;
  table.AddTo(all);
  uint64_t total = 0;
  for (const auto& [key, s] : all) {
    if (key.route.size() > 32 + 1 + kMaxRouteSegments * (kMaxSegmentLength + 1) + 3) abort();
    for (char c : key.route) {
      if (c < 0x20 || c > 0x7e) abort();
    }
    uint64_t responses = 0;
    for (const auto& [code, count] : s.responses) responses += count;
    if (responses > s.requests) abort();
    total += responses;
  }
  if (records > total) abort();
  return 0;
}
