// OwnListeners: the ports this proxy listens on (inbound, outbound, admin,
// health, metrics), so that an intercepted connection whose original
// destination is one of them is refused instead of being forwarded there: a
// peer dialling the pod's :15006 or :15001 would otherwise start a chain of
// the proxy connecting to itself, and one dialling :15000 would reach the
// admin API from outside.
//
//   OwnListeners own;
//   own.Add(15006, "inbound");
//   own.Add(15001, "outbound");
//   if (auto name = OwnListenerAt(own, dst, IsLocalAddress)) { /* refuse: *name */ }
//
// The set is filled once at start-up, before any worker runs, and read-only
// afterwards (no lock).
#ifndef TETHER_PROXY_SERVER_OWN_LISTENERS_H_
#define TETHER_PROXY_SERVER_OWN_LISTENERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "proxy/net/socket.h"

namespace tether::proxy {

class OwnListeners {
 public:
  // Add records a listener's port and a name for it ("inbound", "admin", ...).
  // Port 0 (not listening) is ignored; a port added twice keeps its first name.
  void Add(uint16_t port, absl::string_view name);
  // NameOf: the name of the listener on `port`, or nullopt.
  std::optional<absl::string_view> NameOf(uint16_t port) const;
  bool empty() const { return ports_.empty(); }

 private:
  std::vector<std::pair<uint16_t, std::string>> ports_;  // a handful: linear search
};

// OwnListenerAt returns the name of this proxy's listener that `dst` would
// reach, or nullopt. The proxy binds its listeners on 0.0.0.0 or 127.0.0.1,
// so a destination on one of their ports counts when its address is this
// host's: loopback (127.0.0.0/8, ::1, and their IPv4-mapped forms), the
// unspecified address (0.0.0.0, ::), or any address for which `is_local`
// returns true (the pod's own addresses). `is_local` is asked only when the
// port matches, so the common case costs no system call.
std::optional<absl::string_view> OwnListenerAt(
    const OwnListeners& own, const SocketAddress& dst,
    absl::FunctionRef<bool(const SocketAddress&)> is_local);

// IsLoopback: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104.
bool IsLoopback(const SocketAddress& addr);

// IsLocalAddress says whether addr's IP is assigned to this network namespace:
// binding a socket to it (port 0) succeeds. False when the bind fails for any
// reason (EADDRNOTAVAIL: not ours). With net.ipv4.ip_nonlocal_bind set every
// address looks local; callers use it to refuse, never to allow, so that errs
// on the side of refusing.
bool IsLocalAddress(const SocketAddress& addr);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_OWN_LISTENERS_H_
