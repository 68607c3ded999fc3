// tetherctl's view of the control plane's admin address: which one to use,
// and what to tell the user when it cannot be reached.
#ifndef TETHER_CONTROL_TETHERCTL_CONTROL_ADDRESS_H_
#define TETHER_CONTROL_TETHERCTL_CONTROL_ADDRESS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tether::tetherctl {

// ResolveControlAdmin: `flag` (--admin) when given, else `env`
// ($TETHER_ADMIN) when set and non-empty, else the default Unix socket.
std::string ResolveControlAdmin(absl::string_view flag, const char* env);

// UnreachableHint: a parenthesised sentence for an error reaching the
// control plane at `address`. For a Unix socket it says why, as the kernel
// tells it (no socket there, permission denied by the file's mode and group,
// nothing listening); for HOST:PORT it asks whether tether-control listens
// there.
std::string UnreachableHint(absl::string_view address);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_CONTROL_ADDRESS_H_
