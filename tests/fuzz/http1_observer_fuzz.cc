// http1_observer_fuzz: Http1Observer on arbitrary traffic. The input is a
// sequence of chunks, each one byte (bit 0: from the client, else the
// server; the other bits and the next byte: the length) then its bytes,
// as a relay would hand them over; then the connection closes.
//
// Besides not crashing, hanging or throwing: responses never outnumber
// requests, and every route label is short printable ASCII of the form
// "METHOD /template" or "METHOD *".
// Seed corpus: tests/fuzz/corpus/http1_observer/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "common/testing/fake_clock.h"
#include "proxy/http/http1_observer.h"
#include "proxy/http/route_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tether::proxy;
  tether::FakeClock clock;
  WorkerHttpStats table(8);
  Http1Observer::Options o;
  o.peer = [] { return std::string("peer"); };
  o.clock = &clock;
  o.stats = &table;
  o.max_pending = 8;
  o.max_target_bytes = 256;
  Http1Observer obs(o);
  size_t i = 0;
  while (i + 2 <= size) {
    const bool from_client = (data[i] & 1) != 0;
    size_t n = ((data[i] >> 1) << 8 | data[i + 1]) % 4096;
    i += 2;
    n = std::min(n, size - i);
    obs.OnData(from_client, {data + i, n});
    clock.Advance(absl::Microseconds(data[i - 1]));
    i += n;
  }
  obs.OnClose();
  if (obs.responses() > obs.requests()) abort();
  std::map<WorkerHttpStats::Key, RouteStats::Snapshot> all;
  table.AddTo(all);
  for (const auto& [key, s] : all) {
    const std::string& r = key.route;
    if (r.size() > 16 + 1 + kMaxRouteSegments * (kMaxSegmentLength + 1) + 3) abort();
    const size_t space = r.find(' ');
    if (r != kOtherRoute && (space == std::string::npos || space + 1 >= r.size() ||
                             (r[space + 1] != '/' && r[space + 1] != '*'))) {
      abort();
    }
    for (char c : r) {
      if (c < 0x20 || c > 0x7e) abort();
    }
    uint64_t responses = 0;
    for (const auto& [code, count] : s.responses) responses += count;
    if (responses > s.requests) abort();
  }
  return 0;
}
