#include "control/tetherctl/stat_command.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "control/tetherctl/proxy_admin.h"
#include "control/tetherctl/route_stats.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {

std::vector<StatRow> StatRows(const std::vector<Sample>& metrics) {
  std::map<std::pair<std::string, std::string>, StatRow> rows;
  for (const Sample& s : metrics) {
    const bool connections = s.name == "tether_proxy_peer_connections_total";
    const bool bytes = s.name == "tether_proxy_peer_bytes_total";
    if (!connections && !bytes) continue;
    const std::string& dir = s.Label("direction");
    StatRow& row = rows[{dir, s.Label("peer_identity")}];
    row.direction = dir;
    row.peer = s.Label("peer_identity");
    if (connections) {
      row.connections += s.value;
      if (s.Label("result") == "failed") row.failed += s.value;
      continue;
    }
    // Inbound, the peer is downstream; outbound, upstream.
    const bool toward_upstream = s.Label("flow") == "to_upstream";
    const bool to_peer = (dir == "outbound") == toward_upstream;
    (to_peer ? row.bytes_to_peer : row.bytes_from_peer) += s.value;
  }
  std::vector<StatRow> out;
  out.reserve(rows.size());
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  std::stable_sort(out.begin(), out.end(), [](const StatRow& a, const StatRow& b) {
    return a.connections > b.connections;
  });
  return out;
}

bool IdentityMatches(const std::string& pattern, const std::string& id) {
  if (pattern.empty() || pattern == id) return true;
  if (absl::StartsWith(pattern, "spiffe://")) return false;
  const std::vector<std::string> parts = absl::StrSplit(pattern, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  return absl::EndsWith(id, absl::StrCat("/ns/", parts[0], "/sa/", parts[1])) &&
         absl::StartsWith(id, "spiffe://");
}

bool EdgeMatches(const std::string& direction, const std::string& proxy_id,
                 const std::string& peer, const StatOptions& options) {
  const bool inbound = direction == "inbound";
  const std::string& client = inbound ? peer : proxy_id;
  const std::string& server = inbound ? proxy_id : peer;
  return IdentityMatches(options.from, client) && IdentityMatches(options.to, server);
}

namespace {

std::string Millis(std::optional<double> seconds) {
  if (!seconds) return "-";
  const double ms = *seconds * 1000;
  return ms < 10 ? absl::StrFormat("%.2fms", ms) : absl::StrFormat("%.0fms", ms);
}

// ProxyName: the proxy's SPIFFE ID, else its address.
std::string ProxyName(const ProxyState& p, const std::string& address) {
  return p.certs && !p.certs->spiffe_id.empty() ? p.certs->spiffe_id : address;
}

bool Fetch(const std::string& address, ProxyState* p, std::ostream& err) {
  *p = FetchProxyState(address, {.certs = true, .failures = false, .metrics = true});
  if (!p->error.empty() || !p->metrics) {
    err << "tetherctl: proxy " << address << ": "
        << (p->error.empty() ? (p->problems.empty() ? "no metrics" : p->problems.back())
                             : p->error)
        << "\n";
    return false;
  }
  return true;
}

int RunRouteStat(const std::vector<std::string>& proxies, const StatOptions& options,
                 std::ostream& out, std::ostream& err) {
  int status = 0;
  std::vector<ProxyState> first(proxies.size());
  std::vector<bool> read(proxies.size(), false);
  for (size_t i = 0; i < proxies.size(); ++i) read[i] = Fetch(proxies[i], &first[i], err);
  if (options.window > absl::ZeroDuration()) options.sleep(options.window);
  std::vector<std::vector<std::string>> table = {
      {"PROXY", "DIRECTION", "PEER", "ROUTE", "REQUESTS", "SUCCESS", "RPS", "P50", "P95", "P99"}};
  for (size_t i = 0; i < proxies.size(); ++i) {
    ProxyState now;
    if (!read[i] || !Fetch(proxies[i], &now, err)) {
      status = 1;
      continue;
    }
    const std::vector<RouteRow> total = RouteRows(*now.metrics);
    const std::vector<RouteRow> window = RouteDelta(total, RouteRows(*first[i].metrics));
    double in_window = 0;
    for (const RouteRow& r : window) in_window += r.requests;
    // Nothing happened in the window: show everything since the start.
    const bool windowed = in_window > 0 && options.window > absl::ZeroDuration();
    for (const RouteRow& r : windowed ? window : total) {
      if (windowed && r.requests == 0 && r.responses() == 0) continue;
      if (!EdgeMatches(r.direction, ProxyName(now, proxies[i]), r.peer, options)) continue;
      const double seconds = absl::ToDoubleSeconds(options.window);
      table.push_back(
          {ProxyName(now, proxies[i]), r.direction, r.peer, r.route,
           absl::StrFormat("%.0f", r.requests),
           r.responses() > 0 ? absl::StrFormat("%.1f%%", 100 * r.successes / r.responses()) : "-",
           windowed ? absl::StrFormat("%.1f", r.requests / seconds) : "-",
           Millis(HistogramQuantile(0.5, r.buckets)), Millis(HistogramQuantile(0.95, r.buckets)),
           Millis(HistogramQuantile(0.99, r.buckets))});
    }
  }
  if (table.size() == 1 && (!options.from.empty() || !options.to.empty())) {
    out << "no HTTP edges match --from/--to at "
        << (proxies.size() == 1 ? "this proxy" : "these proxies") << "\n";
  } else if (table.size() == 1) {
    out << "no HTTP requests seen at " << (proxies.size() == 1 ? "this proxy" : "these proxies")
        << " yet\n";
  } else {
    PrintTable(out, table);
  }
  return status;
}

}  // namespace

int RunStat(const std::vector<std::string>& proxies, const StatOptions& options,
            std::ostream& out, std::ostream& err) {
  if (options.routes) return RunRouteStat(proxies, options, out, err);
  int status = 0;
  std::vector<std::vector<std::string>> table = {{"PROXY", "DIRECTION", "PEER", "CONNECTIONS",
                                                  "FAILED", "FAILURE RATE", "TO PEER",
                                                  "FROM PEER"}};
  for (const std::string& address : proxies) {
    ProxyState p;
    if (!Fetch(address, &p, err)) {
      status = 1;
      continue;
    }
    const std::string name = ProxyName(p, address);
    for (const StatRow& r : StatRows(*p.metrics)) {
      if (!EdgeMatches(r.direction, name, r.peer, options)) continue;
      table.push_back(
          {name, r.direction, r.peer, absl::StrFormat("%.0f", r.connections),
           absl::StrFormat("%.0f", r.failed),
           r.connections > 0 ? absl::StrFormat("%.1f%%", 100 * r.failed / r.connections) : "-",
           HumanBytes(r.bytes_to_peer), HumanBytes(r.bytes_from_peer)});
    }
  }
  if (table.size() == 1 && (!options.from.empty() || !options.to.empty())) {
    out << "no edges match --from/--to at " << (proxies.size() == 1 ? "this proxy" : "these proxies")
        << "\n";
  } else if (table.size() == 1) {
    out << "no connections have ended at " << (proxies.size() == 1 ? "this proxy" : "these proxies")
        << " yet\n";
  } else {
    PrintTable(out, table);
  }
  return status;
}

}  // namespace tether::tetherctl
