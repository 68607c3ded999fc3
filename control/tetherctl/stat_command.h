// `tetherctl stat --proxy HOST:PORT[,...]`: per peer identity, the
// connections each proxy ended, how many failed, and the bytes each way,
// from the proxies' tether_proxy_peer_* metrics.
//
//   tetherctl stat --proxy 127.0.0.1:15000,127.0.0.1:15001
//   PROXY                           DIRECTION  PEER                            CONNECTIONS ...
//   spiffe://mesh.local/ns/demo/sa/b  inbound  spiffe://mesh.local/ns/demo/sa/a  12  ...
//
// With --routes, per HTTP route instead (the proxies' tether_proxy_http_*
// metrics), over a window: each proxy is read, then read again `window`
// later, and the rows show what happened in between (all since the
// proxy started when nothing did):
//
//   tetherctl stat --proxy 127.0.0.1:15000 --routes --window 5s
//   PROXY  DIRECTION  PEER  ROUTE            REQUESTS  SUCCESS  RPS   P50     P95     P99
//   ...    inbound    ...   GET /users/{id}  120       99.2%    24.0  1.2ms   4.7ms   9.1ms
//
// --from and --to keep the edges (client -> server) of one caller or one
// destination, as `linkerd viz stat --from/--to`: an inbound row's client is
// its peer and its server the proxy; an outbound row's client is the proxy
// and its server the peer. Each takes a SPIFFE ID or NAMESPACE/SERVICEACCOUNT.
//
// Exit status: 0, or 1 when a proxy could not be read.
#ifndef TETHER_CONTROL_TETHERCTL_STAT_COMMAND_H_
#define TETHER_CONTROL_TETHERCTL_STAT_COMMAND_H_

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "control/tetherctl/prom_text.h"

namespace tether::tetherctl {

struct StatRow {
  std::string direction;  // inbound, outbound
  std::string peer;       // a SPIFFE ID, "unauthenticated" or "other"
  double connections = 0;
  double failed = 0;
  double bytes_to_peer = 0;
  double bytes_from_peer = 0;
};

// StatRows: one row per (direction, peer) in one proxy's metrics, busiest
// first.
std::vector<StatRow> StatRows(const std::vector<Sample>& metrics);

struct StatOptions {
  bool routes = false;
  std::string from;  // empty: any client
  std::string to;    // empty: any server
  absl::Duration window = absl::Seconds(5);
  // Waits `d` between the two reads of --routes (tests pass a no-op).
  std::function<void(absl::Duration d)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

// IdentityMatches: `id` is `pattern` (a SPIFFE ID), or `pattern` is
// "NAMESPACE/SERVICEACCOUNT" and `id` names them. An empty pattern matches.
bool IdentityMatches(const std::string& pattern, const std::string& id);

// EdgeMatches: a row of `proxy_id`'s metrics (direction, peer) passes the
// --from/--to filters of `options`.
bool EdgeMatches(const std::string& direction, const std::string& proxy_id,
                 const std::string& peer, const StatOptions& options);

int RunStat(const std::vector<std::string>& proxies, const StatOptions& options,
            std::ostream& out, std::ostream& err);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_STAT_COMMAND_H_
