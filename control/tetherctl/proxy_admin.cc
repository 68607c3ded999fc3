#include "control/tetherctl/proxy_admin.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "control/tetherctl/admin_http.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {
namespace {

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::Time TimeOr(const nlohmann::json& j, const char* key, absl::Time fallback) {
  absl::Time t;
  return ParseRfc3339(Str(j, key), &t) ? t : fallback;
}

// Message: a status's message alone.
std::string Message(const absl::Status& st) { return {st.message().data(), st.message().size()}; }

}  // namespace

absl::StatusOr<CertsView> ParseCerts(absl::string_view json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("/certs is not a JSON object");
  CertsView v;
  v.now = TimeOr(j, "now", absl::InfinitePast());
  if (auto s = j.find("control_stream"); s != j.end() && s->is_object()) {
    v.stream_state = Str(*s, "state");
    v.last_error = Str(*s, "last_error");
    if (auto f = s->find("stream_failures"); f != s->end() && f->is_number_unsigned()) {
      v.stream_failures = f->get<uint64_t>();
    }
  }
  if (auto c = j.find("certificate"); c != j.end() && c->is_object()) {
    v.has_certificate = true;
    v.spiffe_id = Str(*c, "spiffe_id");
    v.serial = Str(*c, "serial");
    v.not_before = TimeOr(*c, "not_before", absl::InfinitePast());
    v.not_after = TimeOr(*c, "not_after", absl::InfinitePast());
  }
  if (auto roots = j.find("trust_bundle"); roots != j.end() && roots->is_array()) {
    for (const auto& r : *roots) {
      if (!r.is_object()) continue;
      v.roots.push_back({Str(r, "subject"), Str(r, "serial"), Str(r, "sha256"),
                         TimeOr(r, "not_after", absl::InfiniteFuture())});
    }
  }
  return v;
}

absl::StatusOr<std::vector<FailureView>> ParseFailures(absl::string_view json, uint64_t* total) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("failures") || !j["failures"].is_array()) {
    return absl::InvalidArgumentError("/debug/failures is not {\"failures\": [...]}");
  }
  std::vector<FailureView> out;
  for (const auto& f : j["failures"]) {
    if (!f.is_object()) continue;
    FailureView v;
    v.time = TimeOr(f, "time", absl::InfinitePast());
    v.direction = Str(f, "direction");
    v.peer_address = Str(f, "peer_address");
    v.peer_identity = Str(f, "peer_identity");
    if (auto b = f.find("peer_identity_verified"); b != f.end() && b->is_boolean()) {
      v.identity_verified = b->get<bool>();
    }
    v.destination = Str(f, "destination");
    v.reason = Str(f, "reason");
    v.detail = Str(f, "detail");
    out.push_back(std::move(v));
  }
  *total = out.size();
  if (auto t = j.find("total"); t != j.end() && t->is_number_unsigned()) {
    *total = t->get<uint64_t>();
  }
  return out;
}

std::string ProxyState::Name() const {
  if (certs && !certs->spiffe_id.empty()) return absl::StrCat(certs->spiffe_id, " (", address, ")");
  return address;
}

ProxyState FetchProxyState(const std::string& address, FetchWhat what) {
  ProxyState p;
  p.address = address;
  absl::StatusOr<AdminResponse> ready = AdminGet(address, "/ready");
  if (!ready.ok()) {
    p.error = Message(ready.status());
    return p;
  }
  p.ready_status = ready->http.status;
  p.ready_body = std::string(absl::StripAsciiWhitespace(ready->http.body));
  if (what.certs) {
    absl::StatusOr<AdminResponse> r = AdminGet(address, "/certs");
    if (r.ok() && r->http.status == 200) {
      absl::StatusOr<CertsView> c = ParseCerts(r->http.body);
      if (c.ok()) {
        p.certs = *std::move(c);
        p.certs_sent = r->sent;
        p.certs_received = r->received;
      } else {
        p.problems.push_back(Message(c.status()));
      }
    } else {
      p.problems.push_back(r.ok() ? absl::StrCat("/certs answered ", r->http.status)
                                  : Message(r.status()));
    }
  }
  if (what.failures) {
    absl::StatusOr<AdminResponse> r = AdminGet(address, "/debug/failures");
    if (r.ok() && r->http.status == 200) {
      absl::StatusOr<std::vector<FailureView>> f = ParseFailures(r->http.body, &p.failures_total);
      if (f.ok()) {
        p.failures = *std::move(f);
      } else {
        p.problems.push_back(Message(f.status()));
      }
    } else {
      p.problems.push_back(r.ok() ? absl::StrCat("/debug/failures answered ", r->http.status,
                                                 " (a proxy older than this tetherctl?)")
                                  : Message(r.status()));
    }
  }
  if (what.metrics) {
    absl::StatusOr<AdminResponse> r = AdminGet(address, "/metrics");
    if (r.ok() && r->http.status == 200) {
      absl::StatusOr<std::vector<Sample>> m = ParsePrometheusText(r->http.body);
      if (m.ok()) {
        p.metrics = *std::move(m);
      } else {
        p.problems.push_back(absl::StrCat("/metrics: ", m.status().message()));
      }
    } else {
      p.problems.push_back(r.ok() ? absl::StrCat("/metrics answered ", r->http.status)
                                  : Message(r.status()));
    }
  }
  return p;
}

std::vector<std::string> SplitAddresses(absl::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view a : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(a));
  }
  return out;
}

}  // namespace tether::tetherctl
