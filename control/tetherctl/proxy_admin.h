// What tetherctl reads from a proxy's admin endpoint (--admin-listen):
// /ready, /certs, /debug/failures and /metrics, parsed.
//
//   ProxyState p = FetchProxyState("127.0.0.1:15000");
//   if (!p.error.empty()) ...;            // unreachable
//   if (p.certs) std::cout << p.certs->spiffe_id;
//
// The parsers are apart from the fetching so that tests feed them text.
#ifndef TETHER_CONTROL_TETHERCTL_PROXY_ADMIN_H_
#define TETHER_CONTROL_TETHERCTL_PROXY_ADMIN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/tetherctl/prom_text.h"

namespace tether::tetherctl {

struct RootView {
  std::string subject;
  std::string serial;
  std::string sha256;
  absl::Time not_after = absl::InfiniteFuture();
};

// CertsView: a proxy's /certs.
struct CertsView {
  bool has_certificate = false;
  std::string spiffe_id;
  std::string serial;
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfinitePast();
  std::vector<RootView> roots;
  std::string stream_state;  // connected, connecting, backoff, stopped
  std::string last_error;
  uint64_t stream_failures = 0;
  // The proxy's clock when it answered; InfinitePast when it did not say.
  absl::Time now = absl::InfinitePast();
};

// FailureView: one record of /debug/failures.
struct FailureView {
  absl::Time time = absl::InfinitePast();
  std::string direction;
  std::string peer_address;
  std::string peer_identity;
  bool identity_verified = false;
  std::string destination;
  std::string reason;
  std::string detail;
};

absl::StatusOr<CertsView> ParseCerts(absl::string_view json);
// ParseFailures: the records newest first, and `*total` (ever recorded).
absl::StatusOr<std::vector<FailureView>> ParseFailures(absl::string_view json, uint64_t* total);

// ProxyState: everything fetched from one proxy. `error` is set when the
// admin endpoint could not be reached at all; each part is empty when its
// own request failed (with a word in `problems`).
struct ProxyState {
  std::string address;
  std::string error;
  int ready_status = 0;
  std::string ready_body;
  std::optional<CertsView> certs;
  // The local clock around the /certs request.
  absl::Time certs_sent = absl::InfinitePast();
  absl::Time certs_received = absl::InfinitePast();
  std::optional<std::vector<FailureView>> failures;
  uint64_t failures_total = 0;
  std::optional<std::vector<Sample>> metrics;
  std::vector<std::string> problems;

  // Name: "spiffe://... (127.0.0.1:15000)", or the address alone.
  std::string Name() const;
};

struct FetchWhat {
  bool certs = true;
  bool failures = true;
  bool metrics = false;
};

ProxyState FetchProxyState(const std::string& address, FetchWhat what = {});

// SplitAddresses: "a:1,b:2" into its non-empty parts.
std::vector<std::string> SplitAddresses(absl::string_view list);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_PROXY_ADMIN_H_
