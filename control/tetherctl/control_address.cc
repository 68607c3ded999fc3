#include "control/tetherctl/control_address.h"

#include <optional>

#include <unistd.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/unix_socket.h"
#include "control/admin_address.h"

namespace tether::tetherctl {

std::string ResolveControlAdmin(absl::string_view flag, const char* env) {
  if (!flag.empty()) return std::string(flag);
  if (env != nullptr && env[0] != '\0') return env;
  return control::kDefaultAdminAddress;
}

std::string UnreachableHint(absl::string_view address) {
  const std::optional<std::string> path = UnixSocketPath(address);
  if (!path.has_value()) {
    return absl::StrCat(" (is tether-control running with --admin-listen ", address, "?)");
  }
  absl::StatusOr<int> fd = ConnectUnix(*path);
  if (fd.ok()) {
    close(*fd);
    return absl::StrCat(" (", address, " accepts connections now; try again)");
  }
  return absl::StrCat(" (", fd.status().message(),
                      "; give another address with --admin or $TETHER_ADMIN)");
}

}  // namespace tether::tetherctl
