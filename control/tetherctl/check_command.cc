#include "control/tetherctl/check_command.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/pki/certs.h"
#include "common/pki/issuer.h"
#include "control/tetherctl/admin_http.h"
#include "control/tetherctl/prom_text.h"

namespace tether::tetherctl {
namespace {

namespace admin = tether::admin::v1;

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return ctx;
}

}  // namespace

ControlView FetchControl(const std::string& address, admin::AdminService::Stub& stub) {
  ControlView c;
  c.address = address;
  admin::GetTrustBundleResponse bundle;
  grpc::Status st = stub.GetTrustBundle(Context().get(), admin::GetTrustBundleRequest(), &bundle);
  if (!st.ok()) {
    c.error = st.error_message();
    return c;
  }
  c.trust_domain = bundle.trust_domain();
  if (auto roots = pki::CertsFromPem(bundle.roots_pem()); roots.ok()) {
    for (const auto& root : *roots) {
      pki::CertInfo info = pki::DescribeCert(root.get());
      c.roots.push_back({info.subject, info.serial_hex, info.sha256_hex, info.not_after});
    }
  }
  admin::ListWorkloadsResponse workloads;
  if (stub.ListWorkloads(Context().get(), admin::ListWorkloadsRequest(), &workloads).ok()) {
    for (const auto& w : workloads.workloads()) {
      c.workloads.push_back({w.spiffe_id(), w.workload_name(), w.serial_hex(),
                             absl::FromUnixSeconds(w.not_after_unix())});
    }
  }
  admin::ListEndpointsResponse endpoints;
  if (stub.ListEndpoints(Context().get(), admin::ListEndpointsRequest(), &endpoints).ok()) {
    for (const auto& listed : endpoints.endpoints()) {
      const auto& e = listed.endpoint();
      if (e.source() != "kubernetes_service" || e.unmeshed_endpoints() == 0) continue;
      c.partly_meshed.push_back({absl::StrCat(e.ip(), ":", e.port()), e.origin(),
                                 static_cast<int>(e.unmeshed_endpoints())});
    }
  }
  if (absl::StatusOr<AdminResponse> ready = AdminGet(address, "/ready"); ready.ok()) {
    c.ready_status = ready->http.status;
    c.ready_body = std::string(absl::StripAsciiWhitespace(ready->http.body));
  } else {
    c.ready_body = ready.status().ToString();
  }
  if (absl::StatusOr<AdminResponse> m = AdminGet(address, "/metrics");
      m.ok() && m->http.status == 200) {
    if (auto samples = ParsePrometheusText(m->http.body); samples.ok()) {
      for (const Sample& s : *samples) {
        if (s.name == "tether_control_ca_expiry_timestamp_seconds" && s.value > 0) {
          c.ca_expiry = absl::FromUnixSeconds(static_cast<int64_t>(s.value));
        }
        if (s.name == "tether_control_policy_error") c.policy_error = s.value > 0;
      }
    }
  }
  return c;
}

int PrintChecks(const std::vector<CheckResult>& results, std::ostream& out) {
  std::vector<std::string> sections;
  for (const CheckResult& r : results) {
    if (std::find(sections.begin(), sections.end(), r.section) == sections.end()) {
      sections.push_back(r.section);
    }
  }
  int failed = 0, warned = 0, passed = 0;
  for (size_t i = 0; i < sections.size(); ++i) {
    if (i > 0) out << "\n";
    out << sections[i] << "\n" << std::string(sections[i].size(), '-') << "\n";
    for (const CheckResult& r : results) {
      if (r.section != sections[i]) continue;
      out << Symbol(r.level) << " " << r.text << "\n";
      if (!r.fix.empty()) out << "    fix: " << r.fix << "\n";
      switch (r.level) {
        case CheckLevel::kOk:
          ++passed;
          break;
        case CheckLevel::kWarn:
          ++warned;
          break;
        case CheckLevel::kFail:
          ++failed;
          break;
      }
    }
  }
  out << "\nStatus check results are " << (failed > 0 ? "✖" : "✔") << ": " << passed << " passed, "
      << warned << (warned == 1 ? " warning, " : " warnings, ") << failed << " failed\n";
  return failed > 0 ? 1 : 0;
}

int RunCheck(admin::AdminService::Stub* stub, const std::string& control_address,
             const std::vector<std::string>& proxies, std::ostream& out) {
  std::optional<ControlView> control;
  if (stub != nullptr) control = FetchControl(control_address, *stub);
  std::vector<ProxyState> states;
  states.reserve(proxies.size());
  for (const std::string& p : proxies) states.push_back(FetchProxyState(p));
  CheckOptions options;
  options.backdate = pki::LeafRequest().backdate;
  return PrintChecks(EvaluateChecks(control, states, absl::Now(), options), out);
}

}  // namespace tether::tetherctl
