#include "common/unix_socket.h"

#include <cstring>
#include <vector>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tether {
namespace {

std::string Errno(absl::string_view what, int err) {
  return absl::StrCat(what, ": ", strerror(err));
}

absl::StatusOr<sockaddr_un> Address(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path \"", path, "\" is not absolute (unix:/run/tether/x.sock)"));
  }
  sockaddr_un addr = {};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unix socket path \"", path, "\" is longer than ", sizeof(addr.sun_path) - 1, " bytes"));
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// MakeParents creates the directories above `path` that are missing.
absl::Status MakeParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(Errno(absl::StrCat("cannot create ", dir), errno));
    }
  }
  return absl::OkStatus();
}

// CheckExisting: OK if nothing is at `path` or a dead server's socket file
// is (which the rename then replaces).
absl::Status CheckExisting(const std::string& path, const sockaddr_un& addr) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::FailedPreconditionError(Errno(absl::StrCat("cannot stat ", path), errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " exists and is not a socket; remove it or choose another path"));
  }
  const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return absl::InternalError(Errno("socket", errno));
  const int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  close(probe);
  if (rc == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another server is listening at unix:", path));
  }
  if (err == ECONNREFUSED) return absl::OkStatus();  // left by a process that died
  return absl::FailedPreconditionError(Errno(absl::StrCat("cannot probe unix:", path), err));
}

}  // namespace

std::optional<std::string> UnixSocketPath(absl::string_view address) {
  if (!absl::StartsWith(address, kUnixAddressPrefix)) return std::nullopt;
  address.remove_prefix(kUnixAddressPrefix.size());
  if (absl::StartsWith(address, "///")) address.remove_prefix(2);  // unix:///run/x -> /run/x
  return std::string(address);
}

absl::StatusOr<UnixListener> ListenUnix(const std::string& path, const UnixListenOptions& options) {
  absl::StatusOr<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  // The temporary name sits in the same directory, so that rename() is atomic.
  const std::string temp =
      absl::StrCat(path.substr(0, path.rfind('/') + 1), ".tether-", getpid(), ".sock");
  absl::StatusOr<sockaddr_un> temp_addr = Address(temp);
  if (!temp_addr.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path \"", path, "\" leaves no room for its temporary name"));
  }
  if (absl::Status s = MakeParents(path); !s.ok()) return s;
  if (absl::Status s = CheckExisting(path, *addr); !s.ok()) return s;

  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(Errno("socket", errno));
  absl::Cleanup close_fd = [fd] { close(fd); };
  unlink(temp.c_str());  // a leftover of this pid's earlier, crashed run
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*temp_addr), sizeof(*temp_addr)) != 0) {
    return absl::UnavailableError(Errno(absl::StrCat("bind unix:", temp), errno));
  }
  absl::Cleanup remove_temp = [&temp] { unlink(temp.c_str()); };
  // Mode and group are set before listen(): until then a connect() to the
  // temporary name is refused, whatever the umask made its mode.
  if (chmod(temp.c_str(), options.mode) != 0) {
    return absl::FailedPreconditionError(Errno(absl::StrCat("chmod ", temp), errno));
  }
  if (options.group.has_value() &&
      chown(temp.c_str(), static_cast<uid_t>(-1), *options.group) != 0) {
    return absl::FailedPreconditionError(
        Errno(absl::StrCat("chgrp ", *options.group, " ", temp), errno));
  }
  if (listen(fd, options.backlog) != 0) return absl::InternalError(Errno("listen", errno));
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return absl::FailedPreconditionError(Errno(absl::StrCat("rename to ", path), errno));
  }
  std::move(remove_temp).Cancel();
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return absl::InternalError(Errno(absl::StrCat("stat ", path), errno));
  }
  std::move(close_fd).Cancel();
  return UnixListener{fd, path, st.st_dev, st.st_ino};
}

void RemoveUnixSocket(const UnixListener& listener) {
  struct stat st;
  if (lstat(listener.path.c_str(), &st) != 0) return;
  if (st.st_dev == listener.file_dev && st.st_ino == listener.file_ino) {
    unlink(listener.path.c_str());
  }
}

absl::StatusOr<int> ConnectUnix(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::UnavailableError(Errno("socket", errno));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) == 0 ||
      errno == EINPROGRESS) {
    return fd;
  }
  const int err = errno;
  close(fd);
  const std::string where = absl::StrCat("unix:", path);
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot connect to ", where,
          ": permission denied (the socket file's owner, group and mode decide who may use it: "
          "ls -l ",
          path, ")"));
    case ENOENT:
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", where, ": no such socket (is the server running?)"));
    case ECONNREFUSED:
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", where, ": nothing is listening there"));
    default:
      return absl::UnavailableError(Errno(absl::StrCat("cannot connect to ", where), err));
  }
}

absl::StatusOr<gid_t> ParseGroup(absl::string_view group) {
  uint32_t number = 0;
  if (absl::SimpleAtoi(group, &number)) return static_cast<gid_t>(number);
  const std::string name(group);
  std::vector<char> buffer(16384);
  struct group entry;
  struct group* found = nullptr;
  const int rc = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0) return absl::InternalError(Errno(absl::StrCat("looking up group ", name), rc));
  if (found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no group named \"", name, "\""));
  }
  return found->gr_gid;
}

absl::StatusOr<mode_t> ParseFileMode(absl::string_view mode) {
  uint32_t value = 0;
  const bool digits = !mode.empty() && mode.size() <= 4 &&
                      mode.find_first_not_of("01234567") == absl::string_view::npos;
  for (char c : mode) value = value * 8 + static_cast<uint32_t>(c - '0');
  if (!digits || value > 0777) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", mode, "\" is not an octal file mode such as 0660"));
  }
  return static_cast<mode_t>(value);
}

}  // namespace tether
