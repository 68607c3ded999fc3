// Where tether-control's admin API is by default: a Unix socket, so that the
// socket file's mode and group decide which local users may mint join tokens,
// revoke, rotate the CA or apply policy (as the Docker daemon's socket does).
// tether-control listens there unless --admin-listen says otherwise, and
// tetherctl looks there unless --admin or $TETHER_ADMIN says otherwise.
#ifndef TETHER_CONTROL_ADMIN_ADDRESS_H_
#define TETHER_CONTROL_ADMIN_ADDRESS_H_

namespace tether::control {

inline constexpr char kDefaultAdminAddress[] = "unix:/run/tether/control.sock";
inline constexpr char kAdminAddressEnv[] = "TETHER_ADMIN";
// The socket file's default mode: owner and group may connect, others not.
inline constexpr char kDefaultAdminSocketMode[] = "0660";

}  // namespace tether::control

#endif  // TETHER_CONTROL_ADMIN_ADDRESS_H_
