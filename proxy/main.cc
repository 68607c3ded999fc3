// tether-proxy: the sidecar data plane.
//
//   tether-proxy init [...]     write the pod's redirection rules (init container)
//   tether-proxy --version
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "common/flags.h"
#include "common/subprocess.h"
#include "common/version.h"
#include "proxy/init/init_command.h"

ABSL_FLAG(bool, version, false, "Print the version and exit");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Tether sidecar proxy.\n"
      "  tether-proxy init [--proxy-uid 1337] [--exclude-inbound-ports P,...] [--remove]");
  std::vector<char*> args = tether::ParseCommandLineWithDashes(argc, argv);
  if (absl::GetFlag(FLAGS_version)) {
    std::cout << tether::VersionString("tether-proxy") << "\n";
    return 0;
  }
  if (args.size() >= 2 && std::string(args[1]) == "init") {
    tether::RealCommandRunner runner;
    return tether::proxy::RunInitCommand(&runner, std::cout, std::cerr);
  }
  std::cerr << "usage: tether-proxy init [flags] | --version (see --help)\n";
  return 2;
}
