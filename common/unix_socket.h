// Unix domain sockets for local APIs (tether-control's admin API): addresses
// spelled "unix:/absolute/path", listening with a file mode and group that
// decide which local users may connect (as the Docker daemon's socket does),
// and connecting.
//
//   if (auto path = UnixSocketPath(address)) {
//     absl::StatusOr<UnixListener> l = ListenUnix(*path, {.mode = 0660, .group = gid});
//   }
//
// The kernel checks write permission on the socket file at connect(): a user
// who is neither its owner nor in its group (with mode 0660) gets EACCES, so
// the file's mode, owner and group are the access control.
#ifndef TETHER_COMMON_UNIX_SOCKET_H_
#define TETHER_COMMON_UNIX_SOCKET_H_

#include <optional>
#include <string>

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tether {

inline constexpr absl::string_view kUnixAddressPrefix = "unix:";

// UnixSocketPath: the path of a "unix:PATH" address ("unix:///PATH" too, as
// gRPC spells it), nullopt for any other address (HOST:PORT). The path is
// not checked here; ListenUnix and ConnectUnix refuse a relative or
// overlong one.
std::optional<std::string> UnixSocketPath(absl::string_view address);

struct UnixListenOptions {
  mode_t mode = 0660;
  // The socket file's group; nullopt keeps the process's group.
  std::optional<gid_t> group;
  int backlog = 64;
};

// UnixListener: a listening socket (`fd`, owned by the caller) and the
// identity of its socket file, to remove exactly that file at shutdown.
struct UnixListener {
  int fd = -1;
  std::string path;
  dev_t file_dev = 0;
  ino_t file_ino = 0;
};

// ListenUnix binds and listens on `path`: a non-blocking, close-on-exec
// descriptor. The socket file has `options.mode` and group
// from the moment it appears at `path` (it is made under a temporary name,
// then renamed into place), so no connection can slip in under looser
// permissions. A socket file left by a process that died is replaced; a
// path where a server answers (another instance) or that is not a socket is
// refused with FailedPrecondition saying so. Missing parent directories are
// created with mode 0755. Errors name the path and the failing step.
absl::StatusOr<UnixListener> ListenUnix(const std::string& path,
                                        const UnixListenOptions& options = {});

// RemoveUnixSocket unlinks the listener's socket file if it is still the one
// ListenUnix made (same device and inode), and leaves a file that another
// process has since put there alone. It does not close the descriptor.
void RemoveUnixSocket(const UnixListener& listener);

// ConnectUnix: a non-blocking descriptor connecting (or connected) to the
// socket at `path`; the caller waits for writability. Errors:
// InvalidArgument for a bad path, PermissionDenied when the socket file's
// mode or group excludes this user (saying so), Unavailable otherwise
// ("cannot connect to unix:PATH: ...").
absl::StatusOr<int> ConnectUnix(const std::string& path);

// ParseGroup: a group given by name ("tether") or number ("4242").
absl::StatusOr<gid_t> ParseGroup(absl::string_view group);

// ParseFileMode: an octal mode ("0660", "660") within 0..0777.
absl::StatusOr<mode_t> ParseFileMode(absl::string_view mode);

}  // namespace tether

#endif  // TETHER_COMMON_UNIX_SOCKET_H_
