// tether-proxy: the sidecar data plane.
//
//   tether-proxy init [...]   write the pod's redirection rules (the init container)
//   tether-proxy [flags]      run the proxy (see proxy/server/config.h and --help)
#include <iostream>
#include <string>
#include <vector>

#include <signal.h>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/subprocess.h"
#include "common/version.h"
#include "proxy/identity/ca_connector.h"
#include "proxy/init/init_command.h"
#include "proxy/server/config.h"
#include "proxy/server/proxy_server.h"

ABSL_FLAG(bool, version, false, "Print the version and exit");

namespace {

int RunProxy() {
  absl::StatusOr<tether::proxy::ProxyConfig> config = tether::proxy::ConfigFromFlags();
  if (!config.ok()) {
    std::cerr << "tether-proxy: " << config.status().message() << "\n";
    return 2;
  }
  // Signals are taken synchronously below; block them in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto connector =
      tether::proxy::MakeGrpcCaConnector(config->control_address, config->control_server_name);
  auto server =
      tether::proxy::ProxyServer::Start(*config, connector.get(), tether::RealClock::Default());
  if (!server.ok()) {
    std::cerr << "tether-proxy: " << server.status().message() << "\n";
    return 1;
  }
  const bool quiet = config->log_level == "warning" || config->log_level == "error";
  if (!quiet) {
    std::cerr << "tether-proxy: " << (config->transparent ? "transparent" : "explicit")
              << " mode; inbound :" << (*server)->inbound_port()
              << ", outbound :" << (*server)->outbound_port()
              << ", admin :" << (*server)->admin_port()
              << ((*server)->metrics_port() > 0
                      ? absl::StrCat(", metrics :", (*server)->metrics_port())
                      : std::string())
              << "; control plane " << config->control_address << std::endl;
  }

  const timespec tick = {0, 200 * 1000 * 1000};
  while (true) {
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      if (!quiet) {
        std::cerr << "tether-proxy: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", draining "
                  << (*server)->active_connections() << " connections (up to "
                  << absl::FormatDuration(config->drain_timeout) << ")" << std::endl;
      }
      break;
    }
    if ((*server)->WaitForQuit(absl::ZeroDuration())) {
      if (!quiet) std::cerr << "tether-proxy: /quitquitquit, draining" << std::endl;
      break;
    }
  }
  (*server)->Drain(config->drain_timeout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Tether sidecar proxy.\n"
      "  tether-proxy init [--proxy-uid 1337] [--exclude-inbound-ports P,...] [--remove]\n"
      "  tether-proxy --control HOST:PORT --ca-bundle FILE --join-token-file FILE\n"
      "      [--inbound-listen IP:PORT --inbound-forward IP:PORT]\n"
      "      [--outbound-listen IP:PORT --outbound-forward IP:PORT "
      "[--outbound-expect-identity ID]]\n"
      "      [--admin-listen 127.0.0.1:15000] [--permissive] [--policy-file FILE]");
  std::vector<char*> args = tether::ParseCommandLineWithDashes(argc, argv);
  if (absl::GetFlag(FLAGS_version)) {
    std::cout << tether::VersionString("tether-proxy") << "\n";
    return 0;
  }
  if (args.size() >= 2 && std::string(args[1]) == "init") {
    tether::RealCommandRunner runner;
    return tether::proxy::RunInitCommand(&runner, std::cout, std::cerr);
  }
  if (args.size() > 1) {
    std::cerr << "tether-proxy: unexpected argument \"" << args[1] << "\" (see --help)\n";
    return 2;
  }
  return RunProxy();
}
