#include "proxy/server/admin.h"

#include <algorithm>


#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http/metrics_handler.h"
#include "common/pki/certs.h"

namespace tether::proxy {
namespace {

std::vector<std::string> AppProbePaths(const AppProbes& probes) {
  std::vector<std::string> paths;
  for (const auto& [path, probe] : probes) paths.push_back(path);
  return paths;
}

std::string Iso(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

http::HttpResponse Json(const nlohmann::json& j, int status = 200) {
  http::HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

std::string DurationText(absl::Duration d) {
  return d == absl::ZeroDuration() ? "" : absl::FormatDuration(d);
}

nlohmann::json RetryJson(const policy::RetryPolicy& r) {
  std::vector<std::string> on;
  if (r.on.connect_failure) on.push_back("connect-failure");
  if (r.on.reset) on.push_back("reset");
  if (r.on.status_5xx) on.push_back("5xx");
  if (r.on.gateway_errors) on.push_back("gateway-error");
  for (int s : r.on.statuses) on.push_back(absl::StrCat(s));
  return {{"attempts", r.attempts},
          {"on", on},
          {"per_try_timeout", DurationText(r.per_try_timeout)},
          {"non_idempotent", r.non_idempotent}};
}

}  // namespace

std::string TrafficJson(const policy::TrafficTable* table) {
  nlohmann::json list = nlohmann::json::array();
  if (table != nullptr) {
    for (const policy::TrafficPolicy& p : table->policies()) {
      nlohmann::json routes = nlohmann::json::array();
      for (const policy::TrafficRoute& r : p.routes) {
        nlohmann::json route = {{"method", r.match.method},
                                {"path_prefix", r.match.path_prefix},
                                {"path", r.match.path}};
        if (r.has_timeout) route["timeout"] = DurationText(r.behaviour.timeout);
        if (r.has_retry) route["retry"] = RetryJson(r.behaviour.retry);
        routes.push_back(std::move(route));
      }
      list.push_back({{"name", absl::StrCat(p.namespace_name, "/", p.name)},
                      {"destination", absl::StrCat(p.namespace_name, "/sa/", p.service_account)},
                      {"port", p.port},
                      {"timeout", DurationText(p.behaviour.timeout)},
                      {"retry", RetryJson(p.behaviour.retry)},
                      {"budget",
                       {{"ratio", p.budget.ratio},
                        {"min_per_second", p.budget.min_per_second},
                        {"ttl", DurationText(p.budget.ttl)}}},
                      {"routes", std::move(routes)}});
    }
  }
  nlohmann::json j = {{"count", list.size()}, {"policies", std::move(list)}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string CertsJson(const IdentitySnapshot* snap, const IdentityStatus& status, absl::Time now) {
  nlohmann::json j;
  // The proxy's clock, for `tetherctl check`'s clock-skew check.
  j["now"] = Iso(now);
  j["control_stream"] = {{"state", status.stream_state},
                         {"connected_since", Iso(status.connected_since)},
                         {"last_error", status.last_error},
                         {"last_error_time", Iso(status.last_error_time)},
                         {"certificates_received", status.certificates_received},
                         {"stream_failures", status.stream_failures},
                         {"trust_bundle_version", status.bundle_version},
                         {"revocations_version", status.revocations_version},
                         {"revocations_ignored_older", status.revocations_ignored}};
  // The certificate withdrawn because it was revoked, until a new one arrives.
  if (!status.revoked_serial.empty()) {
    j["revoked_certificate"] = {{"serial", status.revoked_serial},
                                {"reason", status.revoked_reason}};
  }
  if (snap == nullptr) {
    j["certificate"] = nullptr;
    return j.dump(2) + "\n";
  }
  j["certificate"] = {{"spiffe_id", snap->spiffe_id.ToString()},
                      {"serial", snap->serial_hex},
                      {"not_before", Iso(snap->not_before)},
                      {"not_after", Iso(snap->not_after)},
                      {"expires_in_seconds", absl::ToInt64Seconds(snap->not_after - now)},
                      {"chain_pem", pki::ChainToPem(snap->chain)}};
  nlohmann::json roots = nlohmann::json::array();
  for (const auto& root : snap->bundle.roots()) {
    pki::CertInfo info = pki::DescribeCert(root.get());
    roots.push_back({{"subject", info.subject},
                     {"serial", info.serial_hex},
                     {"not_after", Iso(info.not_after)},
                     {"sha256", info.sha256_hex}});
  }
  j["trust_bundle"] = roots;
  j["revoked"] = {{"serials", snap->revocations.serials.size()},
                  {"identities", snap->revocations.spiffe_ids.size()}};
  return j.dump(2) + "\n";
}

void RegisterHealthEndpoints(http::AdminServer& server, IdentityManager* identity,
                             const Clock* clock, const AdminHooks& hooks) {
  server.Handle("GET", "/live",
                [](const http::HttpRequest&) { return http::HttpResponse::Text("live\n"); });
  server.Handle("GET", "/ready", [identity, clock, hooks](const http::HttpRequest&) {
    http::HttpResponse r;
    auto snap = identity->Current();
    const IdentityStatus st = identity->status();
    if (hooks.draining && hooks.draining()) {
      r = http::HttpResponse::Text("not ready: draining\n");
      r.status = 503;
    } else if (snap == nullptr && !st.revoked_reason.empty()) {
      // Withdrawn: say so, and what renewing it has met (a refused bootstrap
      // credential, a rejected request) once that is the last error.
      r = http::HttpResponse::Text(absl::StrCat(
          "not ready: ", st.revoked_reason, " (control stream ", st.stream_state,
          st.last_error == st.revoked_reason ? "" : absl::StrCat("; last error: ", st.last_error),
          ")\n"));
      r.status = 503;
    } else if (snap == nullptr) {
      r = http::HttpResponse::Text(absl::StrCat(
          "not ready: no certificate yet (control stream ", st.stream_state,
          st.last_error.empty() ? "" : absl::StrCat("; last error: ", st.last_error), ")\n"));
      r.status = 503;
    } else if (clock->Now() >= snap->not_after) {
      r = http::HttpResponse::Text(
          absl::StrCat("not ready: certificate expired at ", Iso(snap->not_after), "\n"));
      r.status = 503;
    } else if (hooks.policy_held && !hooks.policy_held()) {
      r = http::HttpResponse::Text(
          "not ready: no authorization policy from the control plane yet (inbound connections "
          "are refused until it arrives)\n");
      r.status = 503;
    } else {
      r = http::HttpResponse::Text(absl::StrCat("ready: ", snap->spiffe_id.ToString(), "\n"));
    }
    return r;
  });
}

void RegisterMetricsEndpoint(http::AdminServer& server, IdentityManager* identity,
                             ProxyMetrics* metrics) {
  server.Handle("GET", "/metrics", [identity, metrics](const http::HttpRequest&) {
    // The stream's state is read when scraped rather than pushed on change.
    metrics->SetControlStreamConnected(identity->status().stream_state == "connected");
    return http::MetricsResponse(*metrics->registry(), metrics->collectables());
  });
}

std::string RequestsJson(const std::vector<TappedRequest>& records, uint64_t since) {
  nlohmann::json list = nlohmann::json::array();
  uint64_t last = since;
  for (const TappedRequest& t : records) {
    last = std::max(last, t.seq);
    list.push_back({
        {"seq", t.seq},
        {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t.time, absl::UTCTimeZone())},
        {"direction", t.inbound ? "inbound" : "outbound"},
        {"client", t.client},
        {"server", t.server},
        {"method", t.method},
        {"path", t.path},
        {"status", t.status},
        {"duration_ms", absl::ToDoubleMilliseconds(t.duration)},
    });
    if (t.grpc_status >= 0) list.back()["grpc_status"] = t.grpc_status;
  }
  nlohmann::json j = {{"seq", last}, {"requests", list}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void RegisterAdminEndpoints(http::AdminServer& server, const ProxyConfig& config,
                            IdentityManager* identity, ProxyMetrics* metrics, const Clock* clock,
                            const AdminHooks& hooks) {
  RegisterHealthEndpoints(server, identity, clock, hooks);
  RegisterMetricsEndpoint(server, identity, metrics);
  server.Handle("GET", "/debug/failures", [hooks](const http::HttpRequest&) {
    uint64_t total = 0;
    std::vector<FailureRecord> records;
    if (hooks.failures) records = hooks.failures(&total);
    http::HttpResponse r;
    r.content_type = "application/json";
    r.body = FailuresJson(records, records.size(), total);
    return r;
  });
  server.Handle("GET", "/endpoints", [hooks](const http::HttpRequest&) {
    http::HttpResponse r;
    r.content_type = "application/json";
    r.body = hooks.endpoints ? hooks.endpoints() : "{}\n";
    return r;
  });
  server.Handle("GET", "/requests", [hooks](const http::HttpRequest& req) {
    uint64_t since = 0;
    if (std::optional<std::string> s = req.QueryParam("since")) {
      if (!absl::SimpleAtoi(*s, &since)) since = 0;
    }
    http::HttpResponse r;
    r.content_type = "application/json";
    r.body = RequestsJson(hooks.requests ? hooks.requests(since) : std::vector<TappedRequest>(),
                          since);
    return r;
  });
  server.Handle("GET", "/traffic", [hooks](const http::HttpRequest&) {
    http::HttpResponse r;
    r.content_type = "application/json";
    r.body = TrafficJson(hooks.traffic ? hooks.traffic().get() : nullptr);
    return r;
  });
  server.Handle("GET", "/certs", [identity, clock](const http::HttpRequest&) {
    auto snap = identity->Current();
    http::HttpResponse r;
    r.content_type = "application/json";
    r.body = CertsJson(snap.get(), identity->status(), clock->Now());
    return r;
  });
  server.Handle("GET", "/config", [config](const http::HttpRequest&) {
    nlohmann::json j = {
        {"mode", config.transparent ? "transparent" : "explicit"},
        {"control", config.control_address},
        {"control_server_name", config.control_server_name},
        {"ca_bundle", config.ca_bundle_file},
        {"bootstrap", config.bootstrap.join_token_file.empty() ? "kubernetes_token" : "join_token"},
        {"inbound_listen", config.inbound_listen},
        {"inbound_forward", config.inbound_forward},
        {"outbound_listen", config.outbound_listen},
        {"outbound_forward", config.outbound_forward},
        {"outbound_unknown",
         config.outbound_unknown == ProxyConfig::UnknownDestination::kMtls          ? "mtls"
         : config.outbound_unknown == ProxyConfig::UnknownDestination::kPassthrough ? "passthrough"
                                                                                    : "deny"},
        {"outbound_expect_identity",
         config.outbound_expect_identity ? config.outbound_expect_identity->ToString() : ""},
        {"inbound_mode", config.permissive ? "permissive" : "strict"},
        {"policy_file", config.policy_file},
        {"default_policy",
         config.default_policy == policy::DefaultAction::kDeny ? "deny" : "allow-authenticated"},
        {"session_resumption", config.session_resumption},
        {"workers", config.workers},
        {"max_connections", config.max_connections},
        {"connect_timeout", absl::FormatDuration(config.connect_timeout)},
        {"handshake_timeout", absl::FormatDuration(config.handshake_timeout)},
        {"idle_timeout", absl::FormatDuration(config.idle_timeout)},
        {"drain_timeout", absl::FormatDuration(config.drain_timeout)},
        {"health_listen", config.health_listen},
        {"app_probes", AppProbePaths(config.app_probes)},
        {"app_probe_host", config.app_probe_host},
        {"metrics_listen", config.metrics_listen},
        {"peer_metrics_max_identities", config.max_peer_identities},
        {"log_level", config.log_level},
    };
    return Json(j);
  });
  server.Handle("POST", "/drain", [hooks](const http::HttpRequest&) {
    if (hooks.drain) hooks.drain();
    return http::HttpResponse::Text("draining\n");
  });
  server.Handle("POST", "/quitquitquit", [hooks](const http::HttpRequest&) {
    if (hooks.quit) hooks.quit();
    return http::HttpResponse::Text("quitting\n");
  });
}

}  // namespace tether::proxy
