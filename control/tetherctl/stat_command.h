// `tetherctl stat --proxy HOST:PORT[,...]`: per peer identity, the
// connections each proxy ended, how many failed, and the bytes each way,
// from the proxies' tether_proxy_peer_* metrics.
//
//   tetherctl stat --proxy 127.0.0.1:15000,127.0.0.1:15001
//   PROXY                           DIRECTION  PEER                            CONNECTIONS ...
//   spiffe://mesh.local/ns/demo/sa/b  inbound  spiffe://mesh.local/ns/demo/sa/a  12  ...
//
// Exit status: 0, or 1 when a proxy could not be read.
#ifndef TETHER_CONTROL_TETHERCTL_STAT_COMMAND_H_
#define TETHER_CONTROL_TETHERCTL_STAT_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

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

int RunStat(const std::vector<std::string>& proxies, std::ostream& out, std::ostream& err);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_STAT_COMMAND_H_
