#include "control/tetherctl/check_rules.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {
namespace {

constexpr char kControl[] = "control plane";
constexpr char kProxies[] = "proxies";

class Results {
 public:
  void Ok(const char* section, std::string text) {
    out_.push_back({CheckLevel::kOk, section, std::move(text), ""});
  }
  void Warn(const char* section, std::string text, std::string fix) {
    out_.push_back({CheckLevel::kWarn, section, std::move(text), std::move(fix)});
  }
  void Fail(const char* section, std::string text, std::string fix) {
    out_.push_back({CheckLevel::kFail, section, std::move(text), std::move(fix)});
  }
  std::vector<CheckResult> Take() { return std::move(out_); }

 private:
  std::vector<CheckResult> out_;
};

std::string ShortSha(const std::string& sha) { return sha.substr(0, 16); }

std::string RootSet(const std::set<std::string>& shas) {
  std::vector<std::string> short_shas;
  short_shas.reserve(shas.size());
  for (const std::string& s : shas) short_shas.push_back(ShortSha(s));
  return short_shas.empty() ? "none" : absl::StrJoin(short_shas, ", ");
}

std::set<std::string> Shas(const std::vector<RootView>& roots) {
  std::set<std::string> out;
  for (const RootView& r : roots) out.insert(r.sha256);
  return out;
}

std::string StreamText(const CertsView& c) {
  return absl::StrCat("control stream ", c.stream_state.empty() ? "unknown" : c.stream_state,
                      c.last_error.empty() ? "" : absl::StrCat(": ", c.last_error));
}

void CheckControl(const ControlView& c, absl::Time now, const CheckOptions& o, Results* r) {
  if (!c.error.empty()) {
    r->Fail(kControl, absl::StrCat("tether-control unreachable at ", c.address, ": ", c.error),
            "start tether-control, or give its admin address with --admin (it listens on "
            "loopback: on Kubernetes, `kubectl -n tether-system port-forward "
            "deploy/tether-control 15014` first)");
    return;
  }
  r->Ok(kControl, absl::StrCat("tether-control reachable at ", c.address, " (trust domain ",
                               c.trust_domain, ")"));
  if (c.ready_status == 200) {
    r->Ok(kControl, absl::StrCat("tether-control ", c.ready_body));
  } else {
    r->Fail(kControl,
            absl::StrCat("tether-control ", c.ready_body.empty()
                                                ? absl::StrCat("/ready answered ", c.ready_status)
                                                : c.ready_body),
            "read tether-control's log: it says why it cannot serve (usually the policy "
            "source: `tetherctl policy list`)");
  }
  if (c.ca_expiry) {
    const absl::Duration left = *c.ca_expiry - now;
    const std::string when = Rfc3339(*c.ca_expiry);
    const std::string fix =
        "rotate the CA: `tetherctl ca rotate` for a CA tether-control made itself; with "
        "--ca-dir, put a renewed CA in the cacerts Secret and restart the control plane";
    if (left <= absl::ZeroDuration()) {
      r->Fail(kControl,
              absl::StrCat("the signing CA certificate expired at ", when, " (",
                           HumanDuration(-left), " ago): no certificate can be issued"),
              fix);
    } else if (left < o.ca_warn) {
      r->Warn(kControl,
              absl::StrCat("the signing CA certificate expires in ", HumanDuration(left), " (",
                           when, "); certificates it issues end no later"),
              fix);
    } else {
      r->Ok(kControl, absl::StrCat("the signing CA certificate is valid for ", HumanDuration(left),
                                   " (until ", when, ")"));
    }
  }
  bool roots_ok = true;
  for (const RootView& root : c.roots) {
    const absl::Duration left = root.not_after - now;
    const std::string name =
        absl::StrCat("trust bundle root ", ShortSha(root.sha256), " (", root.subject, ")");
    if (left <= absl::ZeroDuration()) {
      roots_ok = false;
      r->Fail(kControl, absl::StrCat(name, " expired at ", Rfc3339(root.not_after)),
              "rotate to a new root (`tetherctl ca rotate`); proxies cannot verify certificates "
              "that chain to an expired root");
    } else if (left < o.ca_warn) {
      roots_ok = false;
      r->Warn(kControl,
              absl::StrCat(name, " expires in ", HumanDuration(left), " (", Rfc3339(root.not_after),
                           ")"),
              "rotate to a new root before then (`tetherctl ca rotate --overlap ...`)");
    }
  }
  if (roots_ok) {
    r->Ok(kControl,
          absl::StrCat("trust bundle: ", c.roots.size(), c.roots.size() == 1 ? " root" : " roots",
                       ", valid for more than ", HumanDuration(o.ca_warn)));
  }
  std::vector<std::string> without;
  for (const ControlView::Workload& w : c.workloads) {
    if (w.serial.empty() || w.not_after <= now) {
      without.push_back(
          absl::StrCat(w.spiffe_id, w.name.empty() ? "" : absl::StrCat(" (", w.name, ")")));
    }
  }
  if (without.empty()) {
    r->Ok(kControl,
          absl::StrCat(c.workloads.size(), " workload", c.workloads.size() == 1 ? "" : "s",
                       " connected, each holding a valid certificate"));
  } else {
    r->Fail(kControl,
            absl::StrCat("connected workloads without a valid certificate: ",
                         absl::StrJoin(without, ", ")),
            "read tether-control's audit log for their rejected requests "
            "(certificate_rejected), e.g. a rate limit or a revoked identity");
  }
  for (const auto& svc : c.partly_meshed) {
    r->Warn(kControl,
            absl::StrCat(svc.origin, " at ", svc.address, ": ", svc.unmeshed,
                         " ready endpoint", svc.unmeshed == 1 ? " is" : "s are",
                         " not meshed; calls the proxy sends there with mTLS fail on those"),
            "inject the Service's pods (label the namespace tether.io/inject=enabled and "
            "restart them), or exclude the Service's port from the mesh");
  }
  if (c.policy_error) {
    r->Warn(kControl,
            "the policy source has a problem (tether_control_policy_error is 1); the previous "
            "policies stay in force",
            "`tetherctl policy list` says which file or ConfigMap and why");
  }
}

void CheckProxy(const ProxyState& p, absl::Time now, const CheckOptions& o, Results* r) {
  if (!p.error.empty()) {
    r->Fail(kProxies, absl::StrCat("proxy ", p.address, " unreachable: ", p.error),
            "is the proxy running with --admin-listen at this address? (in a pod: `kubectl "
            "port-forward POD 15000` first)");
    return;
  }
  const std::string name = absl::StrCat("proxy ", p.Name());
  if (p.ready_status == 200) {
    r->Ok(kProxies, absl::StrCat(name, " is ready"));
  } else {
    std::string fix = "`tetherctl diagnose --proxy " + p.address + "` shows why";
    if (p.certs) {
      fix = absl::StrCat("the proxy has no valid certificate (", StreamText(*p.certs),
                         "): make tether-control reachable from it and its bootstrap "
                         "credential valid; `tetherctl diagnose --proxy ",
                         p.address, "`");
    }
    absl::string_view why = p.ready_body;
    absl::ConsumePrefix(&why, "not ready: ");
    r->Fail(kProxies, absl::StrCat(name, " is not ready: ", why), fix);
  }
  if (!p.certs) {
    for (const std::string& problem : p.problems) {
      r->Warn(kProxies, absl::StrCat(name, ": ", problem), "is it a tether-proxy admin endpoint?");
    }
    return;
  }
  const CertsView& c = *p.certs;
  if (c.has_certificate) {
    const absl::Duration left = c.not_after - now;
    const absl::Duration life = c.not_after - (c.not_before + o.backdate);
    if (left <= absl::ZeroDuration()) {
      r->Fail(kProxies,
              absl::StrCat(name, ": certificate ", c.serial, " expired at ", Rfc3339(c.not_after),
                           " (", HumanDuration(-left), " ago); ", StreamText(c)),
              "the proxy could not renew: make tether-control reachable from it (it "
              "re-authenticates with its bootstrap credential, which must be valid)");
    } else if (life > absl::ZeroDuration() && left < life * o.cert_warn_fraction) {
      r->Warn(kProxies,
              absl::StrCat(name, ": certificate expires in ", HumanDuration(left),
                           " and was due for renewal at half its life; ", StreamText(c)),
              "the proxy cannot reach tether-control or is refused by it: read the control "
              "stream's last error above and tether-control's audit log");
    } else {
      r->Ok(kProxies, absl::StrCat(name, ": certificate valid for ", HumanDuration(left)));
    }
  }
  if (c.stream_state != "connected" && c.has_certificate && c.not_after > now) {
    r->Warn(kProxies, absl::StrCat(name, ": ", StreamText(c)),
            "the proxy keeps serving on its current certificate, but will not renew it until "
            "the stream is back: check tether-control and the network between them");
  }
  if (c.now != absl::InfinitePast() && p.certs_sent != absl::InfinitePast()) {
    const absl::Duration rtt = p.certs_received - p.certs_sent;
    const absl::Time local = p.certs_sent + rtt / 2;
    // The proxy writes whole seconds.
    const absl::Duration slack = rtt / 2 + absl::Seconds(1);
    absl::Duration skew = c.now - local;
    const absl::Duration beyond =
        absl::AbsDuration(skew) > slack ? absl::AbsDuration(skew) - slack : absl::ZeroDuration();
    const std::string text =
        absl::StrCat(name, ": its clock is ", HumanDuration(absl::AbsDuration(skew)),
                     skew > absl::ZeroDuration() ? " ahead of" : " behind", " this machine's");
    const std::string fix =
        "synchronize the clocks (NTP): certificates are backdated by only a minute, so peers "
        "refuse certificates from a CA whose clock runs ahead of theirs";
    if (beyond > o.skew_fail) {
      r->Fail(kProxies, text, fix);
    } else if (beyond > o.skew_warn) {
      r->Warn(kProxies, text, fix);
    }
  }
  if (p.failures) {
    std::map<std::string, int> by_reason;
    std::map<std::string, std::set<std::string>> peers;
    int recent = 0;
    for (const FailureView& f : *p.failures) {
      if (now - f.time > o.failures_window) continue;
      ++recent;
      ++by_reason[f.reason];
      peers[f.reason].insert(f.peer_identity.empty()
                                 ? f.peer_address
                                 : absl::StrCat(f.peer_identity, f.identity_verified ? "" : "?"));
    }
    if (recent > 0) {
      std::vector<std::string> parts;
      for (const auto& [reason, n] : by_reason) {
        std::vector<std::string> who(peers[reason].begin(), peers[reason].end());
        if (who.size() > 3) {
          const size_t more = who.size() - 3;
          who.resize(3);
          who.push_back(absl::StrCat(more, " more"));
        }
        parts.push_back(absl::StrCat(n, " ", reason, " (", absl::StrJoin(who, ", "), ")"));
      }
      r->Warn(kProxies,
              absl::StrCat(name, ": ", recent, " failed connection", recent == 1 ? "" : "s",
                           " in the last ", HumanDuration(o.failures_window), ": ",
                           absl::StrJoin(parts, "; ")),
              absl::StrCat("`tetherctl diagnose --proxy ", p.address,
                           "` explains each (an identity with ? is claimed, not verified)"));
    }
  }
}

void CheckBundles(const std::optional<ControlView>& control, const std::vector<ProxyState>& proxies,
                  Results* r) {
  std::vector<const ProxyState*> with;
  for (const ProxyState& p : proxies) {
    if (p.error.empty() && p.certs) with.push_back(&p);
  }
  std::set<std::string> reference;
  std::string reference_name;
  if (control && control->error.empty() && !control->roots.empty()) {
    reference = Shas(control->roots);
    reference_name = "the control plane's";
  } else {
    // No control plane to compare with: the set most proxies hold.
    std::map<std::set<std::string>, int> count;
    for (const ProxyState* p : with) ++count[Shas(p->certs->roots)];
    int best = 0;
    for (const auto& [set, n] : count) {
      if (n > best) {
        best = n;
        reference = set;
      }
    }
    reference_name = "most proxies'";
  }
  if (with.empty() || reference.empty()) return;
  bool all_same = true;
  for (const ProxyState* p : with) {
    std::set<std::string> mine = Shas(p->certs->roots);
    if (mine == reference) continue;
    all_same = false;
    std::vector<std::string> shared;
    std::set_intersection(mine.begin(), mine.end(), reference.begin(), reference.end(),
                          std::back_inserter(shared));
    if (shared.empty()) {
      r->Fail(kProxies,
              absl::StrCat("proxy ", p->Name(), " trusts another CA: its trust bundle (sha256 ",
                           RootSet(mine), ") shares no root with ", reference_name, " (",
                           RootSet(reference),
                           "), so it and the rest of the mesh refuse each "
                           "other's certificates"),
              "the proxy was started with another --ca-bundle, or its certificate comes from "
              "another control plane: give it the bundle from `tetherctl ca bundle` (on "
              "Kubernetes, the tether-trust-bundle ConfigMap) and its own mesh's control plane, "
              "and restart it");
    } else {
      r->Warn(
          kProxies,
          absl::StrCat("proxy ", p->Name(), " trusts roots ", RootSet(mine), ", ", reference_name,
                       " are ", RootSet(reference), " (a CA rotation not yet pushed to it?)"),
          "a rotation reaches proxies on their control stream: check that the proxy's "
          "stream is connected");
    }
  }
  if (all_same) {
    r->Ok(kProxies,
          absl::StrCat("trust bundles identical across ", with.size(),
                       with.size() == 1 ? " proxy" : " proxies",
                       control && control->error.empty() ? " and the control plane" : ""));
  }
}

}  // namespace

absl::string_view Symbol(CheckLevel level) {
  switch (level) {
    case CheckLevel::kOk:
      return "✔";
    case CheckLevel::kWarn:
      return "!";
    case CheckLevel::kFail:
      return "✖";
  }
  return "?";
}

std::vector<CheckResult> EvaluateChecks(const std::optional<ControlView>& control,
                                        const std::vector<ProxyState>& proxies, absl::Time now,
                                        const CheckOptions& options) {
  Results r;
  if (control) CheckControl(*control, now, options, &r);
  for (const ProxyState& p : proxies) CheckProxy(p, now, options, &r);
  CheckBundles(control, proxies, &r);
  bool skew_reported = false;
  std::vector<CheckResult> out = r.Take();
  for (const CheckResult& c : out) {
    skew_reported = skew_reported || c.text.find("its clock is") != std::string::npos;
  }
  int with_clock = 0;
  for (const ProxyState& p : proxies) {
    if (p.certs && p.certs->now != absl::InfinitePast()) ++with_clock;
  }
  if (!skew_reported && with_clock > 0) {
    out.push_back({CheckLevel::kOk, kProxies,
                   absl::StrCat("clocks of ", with_clock, with_clock == 1 ? " proxy" : " proxies",
                                " within ", HumanDuration(options.skew_warn), " of this machine's"),
                   ""});
  }
  return out;
}

}  // namespace tether::tetherctl
