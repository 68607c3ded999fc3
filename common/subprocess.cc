#include "common/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace tether {

std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  std::string dirs = absl::StrCat(path ? path : "", ":/usr/local/sbin:/usr/sbin:/sbin");
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::string_view stdin_data) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  const std::string program = FindProgram(argv[0]);
  if (program.empty()) return absl::NotFoundError(absl::StrCat(argv[0], " is not installed"));
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, program.c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    std::string msg = absl::StrCat("cannot run ", argv[0], ": ", strerror(rc));
    return rc == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
  }

  // Feed stdin and drain stdout/stderr together, so neither side blocks.
  CommandResult result;
  size_t written = 0;
  if (stdin_data.empty()) {
    close(in[1]);
    in[1] = -1;
  } else {
    fcntl(in[1], F_SETFL, O_NONBLOCK);
  }
  // A child that exits early must not kill us with SIGPIPE.
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &old);
  int open_outputs = 2;
  while (open_outputs > 0 || in[1] >= 0) {
    struct pollfd fds[3];
    int n = 0;
    int out_idx = -1, err_idx = -1, in_idx = -1;
    if (out[0] >= 0) fds[out_idx = n++] = {out[0], POLLIN, 0};
    if (err[0] >= 0) fds[err_idx = n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[in_idx = n++] = {in[1], POLLOUT, 0};
    if (poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    char buf[8192];
    for (auto [idx, fd, sink] :
         {std::tuple{out_idx, &out[0], &result.out}, std::tuple{err_idx, &err[0], &result.err}}) {
      if (idx < 0 || fds[idx].revents == 0) continue;
      ssize_t got = read(*fd, buf, sizeof(buf));
      if (got > 0) {
        sink->append(buf, got);
      } else if (got == 0 || errno != EINTR) {
        close(*fd);
        *fd = -1;
        --open_outputs;
      }
    }
    if (in_idx >= 0 && fds[in_idx].revents != 0) {
      ssize_t put = write(in[1], stdin_data.data() + written, stdin_data.size() - written);
      if (put > 0) written += put;
      if ((put < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_data.size()) {
        close(in[1]);
        in[1] = -1;
      }
    }
  }
  sigaction(SIGPIPE, &old, nullptr);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace tether
