#include "control/tetherctl/diagnose_command.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/tetherctl/failure_explain.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {
namespace {

std::string PeerText(const FailureView& f) {
  std::string s = f.peer_address.empty() ? "an unknown address" : f.peer_address;
  // A peer refused for who it is presented a certificate that verified: it
  // proved that identity, just not the one expected.
  const bool proved_other = f.reason == "wrong_server_identity" || f.reason == "identity_mismatch";
  if (!f.peer_identity.empty() && proved_other && !f.identity_verified) {
    absl::StrAppend(&s, " proving ", f.peer_identity,
                    " (a valid certificate, not the identity expected)");
  } else if (!f.peer_identity.empty()) {
    absl::StrAppend(&s, f.identity_verified ? " " : " claiming ", f.peer_identity,
                    f.identity_verified ? "" : " (not verified)");
  } else if (f.reason != "no_certificate") {
    absl::StrAppend(&s, " (no verified identity)");
  }
  return s;
}

}  // namespace

bool RenderDiagnosis(const ProxyState& p, absl::Time now, size_t limit, std::ostream& out) {
  out << "proxy " << p.Name() << "\n";
  if (!p.error.empty()) {
    out << "  ✖ unreachable: " << p.error << "\n"
        << "    fix: give the proxy's admin address (--admin-listen, 127.0.0.1:15000 in a pod: "
           "`kubectl port-forward POD 15000` first)\n";
    return true;
  }
  bool wrong = false;
  if (p.ready_status == 200) {
    out << "  ✔ " << p.ready_body << "\n";
  } else {
    wrong = true;
    out << "  ✖ " << p.ready_body << "\n";
  }
  if (p.certs) {
    const CertsView& c = *p.certs;
    if (!c.has_certificate) {
      out << "  ✖ no certificate: the proxy has not received one from the control plane\n";
    } else if (c.not_after <= now) {
      out << "  ✖ certificate " << c.serial << " for " << c.spiffe_id << " expired at "
          << Rfc3339(c.not_after) << " (" << HumanDuration(now - c.not_after) << " ago)\n";
    } else {
      out << "  ✔ certificate " << c.serial << " for " << c.spiffe_id << ", expires in "
          << HumanDuration(c.not_after - now) << " (" << Rfc3339(c.not_after) << ")\n";
    }
    const bool stream_ok = c.stream_state == "connected";
    out << "  " << (stream_ok ? "✔" : "!") << " control stream " << c.stream_state
        << (c.last_error.empty() ? "" : absl::StrCat(" (last error: ", c.last_error, ")")) << "\n";
    if (!c.has_certificate || c.not_after <= now) {
      out << "    fix: the proxy cannot get a certificate from the control plane: is "
             "tether-control running and reachable from the proxy (`tetherctl check`)? A proxy "
             "whose certificate expired re-authenticates with its bootstrap credential, which "
             "must still be valid (a fresh join token outside Kubernetes)\n";
    }
    std::vector<std::string> roots;
    for (const RootView& r : c.roots) roots.push_back(r.sha256.substr(0, 16));
    out << "    trust bundle: " << c.roots.size() << (c.roots.size() == 1 ? " root" : " roots")
        << " (sha256 " << absl::StrJoin(roots, ", ") << ")\n";
  }
  for (const std::string& problem : p.problems) out << "  ! " << problem << "\n";
  if (!p.failures) return true;
  const std::vector<FailureView>& failures = *p.failures;
  if (failures.empty()) {
    out << "  ✔ no handshake, authorization or connect failure since the proxy started\n";
    return wrong;
  }
  out << "\n"
      << failures.size() << " recent failure" << (failures.size() == 1 ? "" : "s") << " ("
      << p.failures_total << " since the proxy started), newest first:\n";
  std::map<std::string, int> by_reason;
  for (const FailureView& f : failures) ++by_reason[f.reason];
  for (size_t i = 0; i < failures.size() && i < limit; ++i) {
    const FailureView& f = failures[i];
    Explanation e = ExplainFailure(f.reason, f.direction, f.detail);
    out << "\n  " << Rfc3339(f.time) << "  " << f.direction << "  " << f.reason << "  "
        << (f.direction == "inbound" ? "from " : "to ") << PeerText(f) << "\n"
        << "    what: " << e.what << "\n";
    if (!f.detail.empty()) out << "    detail: " << f.detail << "\n";
    if (f.direction == "inbound" && !f.destination.empty()) {
      out << "    destination: " << f.destination << "\n";
    }
    out << "    fix: " << e.fix << "\n";
  }
  if (failures.size() > limit) {
    out << "\n  (" << failures.size() - limit << " older failures not shown; --limit)\n";
  }
  std::vector<std::string> summary;
  summary.reserve(by_reason.size());
  for (const auto& [reason, n] : by_reason) summary.push_back(absl::StrCat(n, " ", reason));
  out << "\nsummary: " << absl::StrJoin(summary, ", ") << "\n";
  return true;
}

int RunDiagnose(const std::vector<std::string>& proxies, size_t limit, std::ostream& out) {
  bool wrong = false;
  for (size_t i = 0; i < proxies.size(); ++i) {
    if (i > 0) out << "\n";
    ProxyState p = FetchProxyState(proxies[i]);
    wrong = RenderDiagnosis(p, absl::Now(), limit, out) || wrong;
  }
  return wrong ? 1 : 0;
}

}  // namespace tether::tetherctl
