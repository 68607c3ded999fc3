// Subprocess: run a program with arguments (no shell), feed it stdin, and
// collect its exit code and output.
//
//   absl::StatusOr<CommandResult> r = RunCommand({"iptables-restore", "--noflush"}, rules);
//   if (r.ok() && r->exit_code == 0) ...
#ifndef TETHER_COMMON_SUBPROCESS_H_
#define TETHER_COMMON_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether {

struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// FindProgram returns the path of `name`, searched in PATH and then in the
// sbin directories (which minimal environments often leave out of PATH), or
// "" if absent. A name containing '/' is returned as is.
std::string FindProgram(const std::string& name);

// RunCommand runs argv[0] (found with FindProgram) and waits for it. NotFound if the
// program does not exist; the result otherwise, whatever its exit code.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::string_view stdin_data = "");

// CommandRunner: the seam for code that runs programs, so tests can fake it.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                            absl::string_view stdin_data = "") = 0;
};

class RealCommandRunner final : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    absl::string_view stdin_data) override {
    return RunCommand(argv, stdin_data);
  }
};

}  // namespace tether

#endif  // TETHER_COMMON_SUBPROCESS_H_
