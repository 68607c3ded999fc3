// The checks of `tetherctl check`, as a pure function of what was fetched
// from the control plane and the proxies, so that tests can feed any mesh.
//
//   std::vector<CheckResult> r = EvaluateChecks(control, proxies, absl::Now(), {});
//   for (const CheckResult& c : r) std::cout << Symbol(c.level) << " " << c.text << "\n";
#ifndef TETHER_CONTROL_TETHERCTL_CHECK_RULES_H_
#define TETHER_CONTROL_TETHERCTL_CHECK_RULES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "control/tetherctl/proxy_admin.h"

namespace tether::tetherctl {

// ControlView: what tether-control's admin port told.
struct ControlView {
  std::string address;
  std::string error;  // set when its admin API could not be reached
  std::string trust_domain;
  std::vector<RootView> roots;  // the trust bundle
  // When the signing CA expires (tether_control_ca_expiry_timestamp_seconds).
  std::optional<absl::Time> ca_expiry;
  int ready_status = 0;
  std::string ready_body;
  bool policy_error = false;  // tether_control_policy_error
  struct Workload {
    std::string spiffe_id;
    std::string name;
    std::string serial;  // empty: no certificate issued on this stream yet
    absl::Time not_after = absl::InfinitePast();
  };
  std::vector<Workload> workloads;
  // Services of the endpoint registry with ready endpoints outside the mesh.
  struct PartlyMeshedService {
    std::string address;  // ClusterIP:port
    std::string origin;   // "service shop/web (1 of 3 endpoints meshed)"
    int unmeshed = 0;
  };
  std::vector<PartlyMeshedService> partly_meshed;
};

struct CheckOptions {
  absl::Duration ca_warn = absl::Hours(24 * 30);  // CA or roots expiring sooner: a warning
  // A proxy certificate with less of its life left (from its issuance, that
  // is NotBefore + `backdate`) is overdue for renewal (due at 50-60%): a warning.
  double cert_warn_fraction = 0.25;
  absl::Duration backdate = absl::Minutes(1);  // the CA's, pki::LeafRequest::backdate
  absl::Duration skew_warn = absl::Seconds(10);
  // Past this, peers see new certificates as not yet valid (they are
  // backdated by a minute): a failure.
  absl::Duration skew_fail = absl::Minutes(1);
  absl::Duration failures_window = absl::Minutes(15);  // recent failures: a warning
};

enum class CheckLevel { kOk, kWarn, kFail };
absl::string_view Symbol(CheckLevel level);  // ✔ ! ✖

struct CheckResult {
  CheckLevel level = CheckLevel::kOk;
  std::string section;  // "control plane" or "proxies"
  std::string text;
  std::string fix;  // empty for kOk
};

// `control` is null when check was told not to look at a control plane.
std::vector<CheckResult> EvaluateChecks(const std::optional<ControlView>& control,
                                        const std::vector<ProxyState>& proxies, absl::Time now,
                                        const CheckOptions& options);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_CHECK_RULES_H_
