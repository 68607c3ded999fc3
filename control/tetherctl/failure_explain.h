// ExplainFailure: a proxy's failure reason word (the label of
// tether_proxy_tls_handshake_failures_total{reason} or of
// tether_proxy_connections_total{outcome}) in plain words, with what to do.
//
//   Explanation e = ExplainFailure("untrusted", "inbound", "");
//   std::cout << e.what << "\n  fix: " << e.fix << "\n";
#ifndef TETHER_CONTROL_TETHERCTL_FAILURE_EXPLAIN_H_
#define TETHER_CONTROL_TETHERCTL_FAILURE_EXPLAIN_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tether::tetherctl {

struct Explanation {
  std::string what;  // what happened, in a sentence
  std::string fix;   // what to do about it
};

// `direction` is "inbound" (a caller reached this proxy) or "outbound" (this
// proxy called a peer); `detail` (the failure's detail, optional) refines
// peer_rejected by the TLS alert the peer sent. An unknown reason gets a
// generic explanation.
Explanation ExplainFailure(absl::string_view reason, absl::string_view direction,
                           absl::string_view detail = "");

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_FAILURE_EXPLAIN_H_
