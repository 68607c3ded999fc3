// deploy/observability: the Grafana dashboard, the Prometheus scrape
// configuration and the alert rules parse, and every expression in them names
// metrics (and labels) that the proxy and the control plane really export, as
// read from their registries after every kind of update. The scrape
// configuration finds the ports that injection and the control plane's
// Deployment really declare.
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "control/inject/injector.h"
#include "control/metrics.h"
#include "proxy/server/metrics.h"

namespace tether {
namespace {

using Families = std::map<std::string, std::set<std::string>>;  // metric -> label names

// Labels Prometheus adds from the scrape configuration (target labels).
const std::set<std::string> kTargetLabels = {"namespace", "pod", "node", "job", "instance"};

std::string Runfile(const std::string& path) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return path;
  return absl::StrCat(srcdir, "/", workspace, "/", path);
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(Runfile(path), 1 << 22);
  EXPECT_TRUE(text.ok()) << path << ": " << text.status();
  return text.ok() ? *text : "";
}

void AddFamilies(const prometheus::Registry& registry, Families* out) {
  for (const prometheus::MetricFamily& f : registry.Collect()) {
    std::set<std::string> labels;
    for (const prometheus::ClientMetric& m : f.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) labels.insert(l.name);
    }
    if (f.type == prometheus::MetricType::Histogram) {
      (*out)[f.name + "_sum"] = labels;
      (*out)[f.name + "_count"] = labels;
      labels.insert("le");
      (*out)[f.name + "_bucket"] = labels;
    } else {
      (*out)[f.name] = labels;
    }
  }
}

// Exported: every family of both registries, with every label it can carry.
Families Exported() {
  Families out;
  proxy::ProxyMetrics p(4);
  for (proxy::Direction d : {proxy::Direction::kInbound, proxy::Direction::kOutbound}) {
    p.ConnectionOpened(d);
    p.ConnectionClosed(d, "ok", 1, 1);
    p.ConnectionRefused(d, "over_limit");
    p.HandshakeFailed(d, "untrusted");
    p.HandshakeDone(d, absl::Milliseconds(1), true);
    p.PeerConnectionClosed(d, "spiffe://mesh.test/ns/a/sa/b", false, 1, 1);
  }
  p.Authorization("deny", true);
  p.SetCertificate(absl::Now());
  p.SetControlStreamConnected(true);
  p.CertificateRenewed();
  p.PolicyUpdate("applied", 1);
  p.ClosedByPolicy();
  AddFamilies(*p.registry(), &out);
  control::ControlMetrics c;
  c.RecordSign("issued", absl::Milliseconds(1));
  c.RecordSign("weak_key", absl::Milliseconds(1));
  c.StreamOpened();
  c.RecordStreamRejected("unauthenticated");
  c.SetRootExpiry(absl::Now());
  c.SetBundleRoots(1);
  c.RecordAdmission("injected");
  c.SetPolicy(1, false);
  AddFamilies(*c.registry(), &out);
  return out;
}

// CheckExpr checks every tether_* selector of a PromQL expression against
// the exported families, and every `by (...)` label against the labels of
// the metrics it uses; adds the metrics used to `used`.
void CheckExpr(const std::string& where, const std::string& expr, const Families& families,
               std::set<std::string>* used) {
  int depth = 0;
  for (char ch : expr) {
    depth += ch == '(' ? 1 : ch == ')' ? -1 : 0;
    ASSERT_GE(depth, 0) << where << ": unbalanced parentheses in " << expr;
  }
  EXPECT_EQ(depth, 0) << where << ": unbalanced parentheses in " << expr;
  static const std::regex kSelector(R"((tether_[a-z0-9_]+)(\{([^}]*)\})?)");
  static const std::regex kMatcher(R"(([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=))");
  static const std::regex kBy(R"(\b(by|without)\s*\(([^)]*)\))");
  std::set<std::string> labels = kTargetLabels;
  labels.insert("le");
  int selectors = 0;
  for (std::sregex_iterator it(expr.begin(), expr.end(), kSelector), end; it != end; ++it) {
    ++selectors;
    const std::string name = (*it)[1];
    used->insert(name);
    auto family = families.find(name);
    if (family == families.end()) {
      ADD_FAILURE() << where << ": " << name << " is not a metric Tether exports (" << expr << ")";
      continue;
    }
    labels.insert(family->second.begin(), family->second.end());
    const std::string matchers = (*it)[3];
    for (std::sregex_iterator m(matchers.begin(), matchers.end(), kMatcher); m != end; ++m) {
      const std::string label = (*m)[1];
      EXPECT_TRUE(family->second.count(label) || kTargetLabels.count(label))
          << where << ": " << name << " has no label " << label;
    }
  }
  EXPECT_GT(selectors, 0) << where << ": no Tether metric in " << expr;
  for (std::sregex_iterator it(expr.begin(), expr.end(), kBy), end; it != end; ++it) {
    for (absl::string_view l : absl::StrSplit((*it)[2].str(), ',', absl::SkipWhitespace())) {
      const std::string label(absl::StripAsciiWhitespace(l));
      EXPECT_TRUE(labels.count(label)) << where << ": no metric of " << expr << " has " << label;
    }
  }
}

TEST(ObservabilityTest, DashboardPanelsQueryExportedMetrics) {
  const Families families = Exported();
  nlohmann::json dash =
      nlohmann::json::parse(Read("deploy/observability/grafana-dashboard.json"), nullptr, false);
  ASSERT_TRUE(dash.is_object()) << "grafana-dashboard.json is not JSON";
  EXPECT_FALSE(dash.value("title", "").empty());
  EXPECT_FALSE(dash.value("uid", "").empty());
  ASSERT_TRUE(dash["panels"].is_array());
  std::set<int> ids;
  std::set<std::string> used;
  int with_queries = 0;
  for (const nlohmann::json& panel : dash["panels"]) {
    const std::string title = panel.value("title", "");
    EXPECT_TRUE(ids.insert(panel.value("id", -1)).second) << "duplicate panel id: " << title;
    const nlohmann::json& pos = panel["gridPos"];
    ASSERT_TRUE(pos.is_object()) << title;
    EXPECT_LE(pos.value("x", 0) + pos.value("w", 0), 24) << title;
    if (panel.value("type", "") == "row") continue;
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << title;
    ASSERT_TRUE(panel["targets"].is_array() && !panel["targets"].empty()) << title;
    ++with_queries;
    for (const nlohmann::json& t : panel["targets"]) {
      CheckExpr(absl::StrCat("panel \"", title, "\""), t.value("expr", ""), families, &used);
    }
  }
  EXPECT_GE(with_queries, 10);
  for (const nlohmann::json& v : dash["templating"]["list"]) {
    if (v.value("type", "") != "query") continue;
    CheckExpr(absl::StrCat("variable ", v.value("name", "")), v.value("definition", ""), families,
              &used);
  }
  // What the dashboard must show.
  for (const char* needed :
       {"tether_proxy_connections_total", "tether_proxy_bytes_total",
        "tether_proxy_tls_handshake_failures_total", "tether_proxy_authorization_decisions_total",
        "tether_proxy_tls_handshake_seconds_bucket",
        "tether_proxy_certificate_expiry_timestamp_seconds",
        "tether_control_ca_expiry_timestamp_seconds", "tether_proxy_control_stream_connected",
        "tether_control_streams", "tether_control_signing_seconds_bucket",
        "tether_proxy_peer_connections_total"}) {
    EXPECT_TRUE(used.count(needed)) << "the dashboard does not show " << needed;
  }
}

TEST(ObservabilityTest, AlertRulesParseAndQueryExportedMetrics) {
  const Families families = Exported();
  YAML::Node doc = YAML::Load(Read("deploy/observability/tether-alerts.yaml"));
  ASSERT_TRUE(doc["groups"].IsSequence());
  std::set<std::string> alerts;
  std::set<std::string> used;
  for (const YAML::Node& group : doc["groups"]) {
    ASSERT_TRUE(group["name"].IsScalar());
    for (const YAML::Node& rule : group["rules"]) {
      const std::string name = rule["alert"].as<std::string>("");
      ASSERT_FALSE(name.empty()) << "a rule without a name in " << group["name"].as<std::string>();
      EXPECT_TRUE(alerts.insert(name).second) << "duplicate alert " << name;
      const std::string severity = rule["labels"]["severity"].as<std::string>("");
      EXPECT_TRUE(severity == "warning" || severity == "critical") << name << ": " << severity;
      EXPECT_FALSE(rule["annotations"]["summary"].as<std::string>("").empty()) << name;
      if (rule["for"]) {
        absl::Duration d;
        EXPECT_TRUE(absl::ParseDuration(rule["for"].as<std::string>(), &d)) << name;
      }
      const std::string expr = rule["expr"].as<std::string>("");
      if (expr.find("tether_") == std::string::npos) {
        EXPECT_NE(expr.find("up{job=\"tether-control\"}"), std::string::npos) << name;
        continue;
      }
      CheckExpr(absl::StrCat("alert ", name), expr, families, &used);
    }
  }
  for (const char* needed : {"TetherProxyCertificateExpiringSoon", "TetherProxyHandshakeFailures",
                             "TetherProxyControlStreamDown", "TetherCaExpiringSoon"}) {
    EXPECT_TRUE(alerts.count(needed)) << "no alert " << needed;
  }
}

TEST(ObservabilityTest, ScrapeConfigFindsTheDeclaredPorts) {
  YAML::Node prom = YAML::Load(Read("deploy/observability/prometheus.yaml"));
  bool rules = false;
  for (const YAML::Node& f : prom["rule_files"])
    rules = rules || f.as<std::string>() == "tether-alerts.yaml";
  EXPECT_TRUE(rules) << "prometheus.yaml does not load tether-alerts.yaml";
  std::map<std::string, std::string> kept_port;  // job -> port name kept
  for (const YAML::Node& job : prom["scrape_configs"]) {
    const std::string name = job["job_name"].as<std::string>();
    EXPECT_EQ(job["kubernetes_sd_configs"][0]["role"].as<std::string>(), "pod") << name;
    for (const YAML::Node& r : job["relabel_configs"]) {
      if (r["action"].as<std::string>("replace") == "keep" &&
          r["source_labels"][0].as<std::string>() == "__meta_kubernetes_pod_container_port_name") {
        kept_port[name] = r["regex"].as<std::string>();
      }
    }
  }
  // The proxy: the port injection declares, on which it is told to serve.
  EXPECT_EQ(kept_port["tether-proxy"], control::inject::kMetricsPortName);
  // The control plane: the port its Deployment declares, and listens on.
  YAML::Node deployment = YAML::Load(Read("deploy/base/control-deployment.yaml"));
  const YAML::Node container = deployment["spec"]["template"]["spec"]["containers"][0];
  int port = 0;
  for (const YAML::Node& p : container["ports"]) {
    if (p["name"].as<std::string>() == kept_port["tether-control"])
      port = p["containerPort"].as<int>();
  }
  ASSERT_GT(port, 0) << "the control plane's Deployment declares no port "
                     << kept_port["tether-control"];
  bool listens = false;
  for (const YAML::Node& a : container["args"]) {
    listens = listens || a.as<std::string>() == absl::StrCat("--metrics-listen=0.0.0.0:", port);
  }
  EXPECT_TRUE(listens) << "tether-control is not started with --metrics-listen on port " << port;
}

}  // namespace
}  // namespace tether
