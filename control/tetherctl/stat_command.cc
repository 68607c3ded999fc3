#include "control/tetherctl/stat_command.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_format.h"
#include "control/tetherctl/proxy_admin.h"
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

int RunStat(const std::vector<std::string>& proxies, std::ostream& out, std::ostream& err) {
  int status = 0;
  std::vector<std::vector<std::string>> table = {{"PROXY", "DIRECTION", "PEER", "CONNECTIONS",
                                                  "FAILED", "FAILURE RATE", "TO PEER",
                                                  "FROM PEER"}};
  for (const std::string& address : proxies) {
    ProxyState p = FetchProxyState(address, {.certs = true, .failures = false, .metrics = true});
    if (!p.error.empty() || !p.metrics) {
      err << "tetherctl: proxy " << address << ": "
          << (p.error.empty() ? (p.problems.empty() ? "no metrics" : p.problems.back()) : p.error)
          << "\n";
      status = 1;
      continue;
    }
    const std::string name = p.certs && !p.certs->spiffe_id.empty() ? p.certs->spiffe_id : address;
    for (const StatRow& r : StatRows(*p.metrics)) {
      table.push_back(
          {name, r.direction, r.peer, absl::StrFormat("%.0f", r.connections),
           absl::StrFormat("%.0f", r.failed),
           r.connections > 0 ? absl::StrFormat("%.1f%%", 100 * r.failed / r.connections) : "-",
           HumanBytes(r.bytes_to_peer), HumanBytes(r.bytes_from_peer)});
    }
  }
  if (table.size() == 1) {
    out << "no connections have ended at " << (proxies.size() == 1 ? "this proxy" : "these proxies")
        << " yet\n";
  } else {
    PrintTable(out, table);
  }
  return status;
}

}  // namespace tether::tetherctl
