// admin_pages_fuzz: what tetherctl parses from an admin endpoint, on arbitrary
// bytes: Prometheus' text format (/metrics), /certs and /debug/failures. It
// must not crash or hang; a parse either succeeds or is InvalidArgument.
// Seed corpus: tests/fuzz/corpus/admin_pages/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "control/tetherctl/prom_text.h"
#include "control/tetherctl/proxy_admin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto samples = tether::tetherctl::ParsePrometheusText(text);
  if (!samples.ok() && samples.status().code() != absl::StatusCode::kInvalidArgument) abort();
  if (samples.ok()) {
    for (const auto& s : *samples) {
      if (s.name.empty()) abort();
    }
    tether::tetherctl::SumSamples(*samples, "tether_proxy_peer_connections_total",
                                  {{"result", "failed"}});
  }
  auto certs = tether::tetherctl::ParseCerts(text);
  if (!certs.ok() && certs.status().code() != absl::StatusCode::kInvalidArgument) abort();
  uint64_t total = 0;
  auto failures = tether::tetherctl::ParseFailures(text, &total);
  if (!failures.ok() && failures.status().code() != absl::StatusCode::kInvalidArgument) abort();
  return 0;
}
