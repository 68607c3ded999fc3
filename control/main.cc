// tether-control: the control plane and mesh CA.
//
//   tether-control --state-dir /var/lib/tether --trust-domain mesh.local
//       --grpc-listen 0.0.0.0:15012 --admin-listen 127.0.0.1:15014 --cert-ttl 1h
#include <iostream>
#include <string>
#include <vector>

#include <signal.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/version.h"
#include "control/control_plane.h"

ABSL_FLAG(std::string, state_dir, "", "Directory for the CA key, tokens and records (required)");
ABSL_FLAG(std::string, trust_domain, "cluster.local", "The mesh's SPIFFE trust domain");
ABSL_FLAG(std::string, grpc_listen, "0.0.0.0:15012", "Address of the certificate stream (mTLS)");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:15014", "Address of the admin API (loopback)");
ABSL_FLAG(bool, admin_allow_remote, false, "Allow a non-loopback --admin-listen");
ABSL_FLAG(absl::Duration, cert_ttl, absl::Hours(1), "Lifetime of workload certificates (>= 1m)");
ABSL_FLAG(std::string, ca_dir, "",
          "Operator's CA: a directory with ca-cert.pem, ca-key.pem, cert-chain.pem, "
          "root-cert.pem (as Istio's cacerts); default: a self-managed root in --state-dir");
ABSL_FLAG(std::string, audit_log, "", "Audit log path ('-' for stderr; default STATE/audit.jsonl)");
ABSL_FLAG(std::string, serving_dns_names, "",
          "Extra comma-separated DNS names for the control plane's serving certificate");
ABSL_FLAG(double, rate_limit, 30, "Certificate requests per minute per identity");
ABSL_FLAG(bool, version, false, "Print the version and exit");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the Tether control plane and mesh CA.\n"
      "  tether-control --state-dir DIR --trust-domain TD --grpc-listen IP:PORT "
      "--admin-listen IP:PORT [--cert-ttl 1h]");
  tether::ParseCommandLineWithDashes(argc, argv);
  if (absl::GetFlag(FLAGS_version)) {
    std::cout << tether::VersionString("tether-control") << "\n";
    return 0;
  }

  // Signals are taken synchronously by the main thread below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  tether::control::ControlPlaneOptions opts;
  opts.state_dir = absl::GetFlag(FLAGS_state_dir);
  opts.trust_domain = absl::GetFlag(FLAGS_trust_domain);
  opts.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  opts.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  opts.admin_allow_remote = absl::GetFlag(FLAGS_admin_allow_remote);
  opts.cert_ttl = absl::GetFlag(FLAGS_cert_ttl);
  opts.ca_dir = absl::GetFlag(FLAGS_ca_dir);
  opts.audit_log = absl::GetFlag(FLAGS_audit_log);
  opts.requests_per_minute = absl::GetFlag(FLAGS_rate_limit);
  for (absl::string_view n :
       absl::StrSplit(absl::GetFlag(FLAGS_serving_dns_names), ',', absl::SkipEmpty())) {
    opts.serving_dns_names.emplace_back(n);
  }

  auto cp = tether::control::ControlPlane::Start(opts, tether::RealClock::Default());
  if (!cp.ok()) {
    std::cerr << "tether-control: " << cp.status().message() << "\n";
    return 1;
  }
  auto ca = (*cp)->store()->Current();
  std::cerr << "tether-control: CA for trust domain " << ca->trust_domain << " (root "
            << ca->active_root_serial << "), certificate stream on port " << (*cp)->grpc_port()
            << ", admin on port " << (*cp)->admin_port() << std::endl;

  int sig = 0;
  sigwait(&signals, &sig);
  std::cerr << "tether-control: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", closing streams"
            << std::endl;
  (*cp)->Stop();
  return 0;
}
